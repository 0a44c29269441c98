"""One decoder step at a time over preallocated caches, for EA and vanilla transformers.

``IncrementalDecoder`` runs a trained fairseq ``TransformerModel`` decoder (``ea_transformer*``
or ``transformer*``) one target position at a time, calling the model's own modules
(embeddings, projections, layer norms, EA convolutions), with

- self-attention keys and values written in place into buffers sized for the longest
  output, so a step appends one column instead of concatenating the whole cache;
- the encoder–decoder keys and values computed once per sentence, not per beam row;
- for each evolving-attention module the last k−1 rows of M kept in a preallocated buffer
  (self chain: one column per step; cross chain: one per source position), so a step
  does O(T) work;
- rows addressed by *slot*: a beam search moves a hypothesis to another slot only when it
  must (``copy_rows``), and drops finished sentences with ``keep_sentences``.

``ContinuousDecoder`` is the same decoder for continuous batching: sentences join between
steps and each row decodes at its own sentence's position.

In fp32 each step equals the model's own incremental forward (and so its teacher-forced
forward) up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from fairseq.modules import MultiheadAttention
from fairseq.modules.transformer_layer import TransformerDecoderLayerBase
from torch import Tensor

from ea_mt.decoding.fused import fused_projection
from ea_mt.decoding.packed import Projection, layer_projection
from ea_mt.models.attention import EvolvingMultiheadAttention
from ea_mt.models.evolving import combine, mix_with_previous

INITIAL_CAPACITY = 16  # target positions the self-attention buffers start with


class UnsupportedModel(ValueError):
    """The model uses a decoder feature the fast decoder does not implement."""


def unsupported_reason(model) -> str | None:
    """Why ``model`` cannot run on the fast decoder, or None when it can."""
    decoder = getattr(model, "decoder", None)
    if decoder is None or not hasattr(decoder, "layers") or not hasattr(model, "encoder"):
        return "not an encoder–decoder transformer"
    if getattr(decoder, "adaptive_softmax", None) is not None:
        return "adaptive softmax"
    if getattr(decoder, "cross_self_attention", False):
        return "cross-self-attention"
    if getattr(decoder, "quant_noise", None) is not None:
        return "quant-noise embeddings"
    if getattr(decoder, "output_projection", None) is None:
        return "no output projection"
    for layer in decoder.layers:
        if type(layer).forward is not TransformerDecoderLayerBase.forward:
            return f"decoder layer {type(layer).__name__}"
        if layer.encoder_attn is None:
            return "a decoder layer without encoder attention"
        for attn in (layer.self_attn, layer.encoder_attn):
            if not isinstance(attn, MultiheadAttention):
                return f"attention module {type(attn).__name__}"
            if attn.bias_k is not None or attn.add_zero_attn:
                return "add_bias_kv/add_zero_attn"
            if isinstance(attn, EvolvingMultiheadAttention) and not attn.window.is_row_causal:
                return "an evolving-attention window that reads later rows"
    return None


@dataclass(frozen=True)
class _LayerProjections:
    """The Linear layers of one decoder layer as a step calls them (see ``packed``)."""

    self_qkv: Projection  # the self-attention's q, k, v side by side, as one product
    self_out: Projection
    cross_q: Projection
    cross_out: Projection
    fc1: Projection
    fc2: Projection

    @classmethod
    def of(cls, layer) -> _LayerProjections:
        self_attn, cross = layer.self_attn, layer.encoder_attn
        self_qkv = fused_projection(self_attn) or (
            lambda x: torch.cat([self_attn.q_proj(x), self_attn.k_proj(x),
                                 self_attn.v_proj(x)], dim=-1))
        return cls(self_qkv=self_qkv,
                   self_out=layer_projection(self_attn.out_proj),
                   cross_q=layer_projection(cross.q_proj),
                   cross_out=layer_projection(cross.out_proj),
                   fc1=layer_projection(layer.fc1),
                   fc2=layer_projection(layer.fc2))


@dataclass
class _LayerCache:
    """What one decoder layer keeps between steps; the first dimension is the slot.

    The self-attention buffers hold ``capacity`` target positions and double when full,
    so a step writes one column and a slot's whole history is one contiguous block.
    """

    self_key: Tensor  # (slots, heads, capacity, head_dim)
    self_value: Tensor
    cross_key: Tensor  # (sentences, heads, source, head_dim), computed once
    cross_value: Tensor
    self_rows: Tensor | None  # (slots, heads, k−1, capacity): kept rows of M, EA only
    cross_rows: Tensor | None  # (slots, heads, k−1, source)

    def slot_buffers(self) -> list[str]:
        """The names of the buffers indexed by slot."""
        names = ["self_key", "self_value", "self_rows", "cross_rows"]
        return [name for name in names if getattr(self, name) is not None]

    def grow(self, width: int, capacity: int) -> None:
        """Reallocate the self-attention buffers for ``capacity`` positions, keeping ``width``."""
        self.self_key = _widened(self.self_key, 2, width, capacity)
        self.self_value = _widened(self.self_value, 2, width, capacity)
        if self.self_rows is not None:
            self.self_rows = _widened(self.self_rows, 3, width, capacity)


class IncrementalDecoder:
    """The decoder of ``model`` for one batch of encoded sentences, stepped row-parallel.

    A row (slot) holds one hypothesis: sentence ``b`` owns slots ``b·g .. b·g+g−1``, where
    ``g`` is the group size (1 before ``expand``, the beam size after), and every slot
    buffer holds exactly the live slots.
    """

    def __init__(self, model, encoder_out: dict, max_steps: int) -> None:
        reason = unsupported_reason(model)
        if reason is not None:
            raise UnsupportedModel(f"the fast decoder does not support {reason}")
        self.decoder = model.decoder
        enc, self.source_padding = _encoder_states(encoder_out)
        self.sentences = enc.size(1)
        self.group = 1
        self.width = 0  # target positions decoded so far
        self.max_steps = max_steps
        self.capacity = min(INITIAL_CAPACITY, max_steps)
        self.positions = self._position_table(max_steps, enc)
        slots = self.sentences  # grows to sentences·beam on expand
        self.caches = [self._layer_cache(layer, enc, slots, self.capacity)
                       for layer in self.decoder.layers]
        self.projections = [_LayerProjections.of(layer) for layer in self.decoder.layers]
        self.output_projection = layer_projection(self.decoder.output_projection)
        self._cross_blocked = self._blocked_rows()

    def _blocked_rows(self) -> Tensor:
        """The source padding of every row, as (rows, 1, 1, source)."""
        return self.source_padding.repeat_interleave(self.group, dim=0)[:, None, None, :]

    def _position_table(self, steps: int, enc: Tensor) -> Tensor | None:
        positions = self.decoder.embed_positions
        if positions is None:
            return None
        dummy = torch.full((1, steps), self.decoder.dictionary.eos(), dtype=torch.long,
                           device=enc.device)
        return positions(dummy)[0]  # (steps, channels): positions pad+1, pad+2, ...

    def _layer_cache(self, layer, enc: Tensor, slots: int, steps: int) -> _LayerCache:
        self_attn, cross = layer.self_attn, layer.encoder_attn
        heads, dim = self_attn.num_heads, self_attn.head_dim
        kwargs = {"dtype": enc.dtype, "device": enc.device}
        cross_key, cross_value = _cross_states(cross, enc)
        return _LayerCache(
            self_key=torch.zeros(slots, heads, steps, dim, **kwargs),
            self_value=torch.zeros(slots, heads, steps, dim, **kwargs),
            cross_key=cross_key,
            cross_value=cross_value,
            self_rows=_kept_rows(self_attn, slots, steps, kwargs),
            cross_rows=_kept_rows(cross, slots, enc.size(0), kwargs),
        )

    # -- moving hypotheses between slots ---------------------------------------------------

    def expand(self, group: int) -> None:
        """Give every sentence ``group`` slots, each a copy of its single one."""
        assert self.group == 1
        index = torch.arange(self.sentences, device=self.source_padding.device)
        self._select_slots(index.repeat_interleave(group))
        self.group = group
        self._cross_blocked = self._blocked_rows()

    def copy_rows(self, source: Tensor, target: Tensor) -> None:
        """Slot ``target[i]`` takes the history of slot ``source[i]`` (targets not sources)."""
        if source.numel() == 0:
            return
        for cache in self.caches:
            for name in cache.slot_buffers():
                buffer = getattr(cache, name)
                buffer.index_copy_(0, target, buffer.index_select(0, source))

    def keep_sentences(self, kept: Tensor) -> None:
        """Keep only the sentences ``kept`` (indices, ascending), compacted to the front."""
        group = self.group
        self._select_slots((kept[:, None] * group + torch.arange(group, device=kept.device))
                           .view(-1))
        for cache in self.caches:
            cache.cross_key = cache.cross_key.index_select(0, kept)
            cache.cross_value = cache.cross_value.index_select(0, kept)
        self.source_padding = self.source_padding.index_select(0, kept)
        self.sentences = kept.numel()
        self._cross_blocked = self._blocked_rows()

    def _select_slots(self, index: Tensor) -> None:
        """New slot i holds old slot ``index[i]`` (a fresh buffer of len(index) slots)."""
        for cache in self.caches:
            for name in cache.slot_buffers():
                setattr(cache, name, getattr(cache, name).index_select(0, index))

    # -- one step ---------------------------------------------------------------------------

    def step(self, tokens: Tensor) -> Tensor:
        """Logits (rows, vocabulary) after feeding ``tokens`` (rows,) at the next position."""
        decoder, t = self.decoder, self.width
        if t == self.capacity:
            self.capacity = min(2 * self.capacity, self.max_steps)
            for cache in self.caches:
                cache.grow(t, self.capacity)
        x = decoder.embed_scale * decoder.embed_tokens(tokens)
        if decoder.project_in_dim is not None:
            x = decoder.project_in_dim(x)
        if self.positions is not None:
            x += self._position_rows()
        if decoder.layernorm_embedding is not None:
            x = decoder.layernorm_embedding(x)
        chains: dict[str, Tensor | None] = {"self": None, "cross": None}
        for layer, cache, projections in zip(decoder.layers, self.caches, self.projections,
                                             strict=True):
            x = self._layer(layer, cache, projections, x, chains)
        self._advance()
        if decoder.layer_norm is not None:
            x = decoder.layer_norm(x)
        if decoder.project_out_dim is not None:
            x = decoder.project_out_dim(x)
        return self.output_projection(x)

    def _layer(self, layer, cache: _LayerCache, projections: _LayerProjections, x: Tensor,
               chains: dict) -> Tensor:
        """TransformerDecoderLayerBase.forward for one position, on (rows, channels)."""
        residual = x
        if layer.normalize_before:
            x = layer.self_attn_layer_norm(x)
        x = self._self_attention(layer.self_attn, cache, projections, x, chains)
        if layer.c_attn is not None:
            rows = x.size(0)
            x = torch.einsum("bhd,h->bhd", x.view(rows, layer.nh, layer.head_dim), layer.c_attn)
            x = x.reshape(rows, layer.embed_dim)
        if layer.attn_ln is not None:
            x = layer.attn_ln(x)
        x = layer.residual_connection(x, residual)
        if not layer.normalize_before:
            x = layer.self_attn_layer_norm(x)

        residual = x
        if layer.normalize_before:
            x = layer.encoder_attn_layer_norm(x)
        x = self._cross_attention(layer.encoder_attn, cache, projections, x, chains)
        x = layer.residual_connection(x, residual)
        if not layer.normalize_before:
            x = layer.encoder_attn_layer_norm(x)

        residual = x
        if layer.normalize_before:
            x = layer.final_layer_norm(x)
        x = layer.activation_fn(projections.fc1(x))
        if layer.ffn_layernorm is not None:
            x = layer.ffn_layernorm(x)
        x = projections.fc2(x)
        if layer.w_resid is not None:
            residual = torch.mul(layer.w_resid, residual)
        x = layer.residual_connection(x, residual)
        if not layer.normalize_before:
            x = layer.final_layer_norm(x)
        return x

    # -- what a step of the continuous decoder (rows at their own positions) changes ---------

    def _position_rows(self) -> Tensor:
        """The position embedding added to this step's rows (one, broadcast: all at ``width``)."""
        return self.positions[self.width]

    def _write_column(self, buffer: Tensor, values: Tensor) -> None:
        """Write this step's keys or values (rows, heads, dim) at each row's position."""
        buffer[: values.size(0), :, self.width] = values

    def _future(self) -> Tensor | None:
        """The self-attention cells beyond a row's own position, as (rows, 1, 1, width + 1)."""
        return None

    def _advance(self) -> None:
        self.width += 1

    def _cross_keys(self, cache: _LayerCache) -> tuple[Tensor, Tensor]:
        """The encoder–decoder keys and values of the live sentences."""
        return cache.cross_key, cache.cross_value

    def _self_attention(self, attn, cache: _LayerCache, projections: _LayerProjections,
                        x: Tensor, chains: dict) -> Tensor:
        rows, t = x.size(0), self.width
        heads, dim = attn.num_heads, attn.head_dim
        q, k, v = projections.self_qkv(x).chunk(3, dim=-1)
        q *= attn.scaling
        self._write_column(cache.self_key, k.view(rows, heads, dim))
        self._write_column(cache.self_value, v.view(rows, heads, dim))
        keys = cache.self_key[:rows, :, : t + 1]
        logits = torch.matmul(q.view(rows, heads, 1, dim), keys.transpose(2, 3))
        future = self._future()
        if future is not None:
            logits = logits.masked_fill(future, float("-inf"))
        rows_of_m = None if cache.self_rows is None else cache.self_rows[:rows, ..., : t + 1]
        scores = self._evolve(attn, logits, future, rows_of_m, chains, "self")
        probs = _softmax(scores)
        out = torch.matmul(probs, cache.self_value[:rows, :, : t + 1])  # (rows, heads, 1, dim)
        return projections.self_out(out.view(rows, heads * dim))

    def _cross_attention(self, attn, cache: _LayerCache, projections: _LayerProjections,
                         x: Tensor, chains: dict) -> Tensor:
        rows, heads, dim = x.size(0), attn.num_heads, attn.head_dim
        q = projections.cross_q(x)
        q *= attn.scaling
        cross_key, cross_value = self._cross_keys(cache)
        sentences, group, source = self.sentences, self.group, cross_key.size(2)
        # A sentence's rows share its keys: (sentences, heads, group, ·) products.
        grouped = q.view(sentences, group, heads, dim).transpose(1, 2)
        logits = torch.matmul(grouped, cross_key.transpose(2, 3))
        logits = logits.transpose(1, 2).reshape(rows, heads, 1, source)
        blocked = self._cross_blocked
        logits = logits.masked_fill(blocked, float("-inf"))
        rows_of_m = None if cache.cross_rows is None else cache.cross_rows[:rows]
        scores = self._evolve(attn, logits, blocked, rows_of_m, chains, "cross")
        probs = _softmax(scores).view(sentences, group, heads, source).transpose(1, 2)
        out = torch.matmul(probs, cross_value)  # (sentences, heads, group, dim)
        return projections.cross_out(out.transpose(1, 2).reshape(rows, heads * dim))

    @staticmethod
    def _evolve(attn, logits: Tensor, blocked: Tensor | None, kept: Tensor | None,
                chains: dict, chain: str) -> Tensor:
        """The scores softmax reads for this row, as EvolvingMultiheadAttention computes them.

        ``logits`` (rows, heads, 1, keys) hold −inf at blocked cells; ``kept`` is the view of
        the k−1 kept rows of M, updated in place to end with this row.
        """
        if not isinstance(attn, EvolvingMultiheadAttention):
            return logits
        if blocked is not None:
            logits = logits.masked_fill(blocked, 0.0)
        previous = chains[chain]
        if previous is None:  # the chain's first layer: plain attention, L handed on
            chains[chain] = logits
            evolved = logits
        else:
            mixed = mix_with_previous(logits, previous, blocked, attn.alpha)
            evolved = mixed
            if attn.ea_conv is not None:
                assert kept is not None
                stacked = torch.cat([kept, mixed], dim=2)
                window = attn.window
                padded = F.pad(stacked, (window.left, window.right, 0, 0))
                convolved = F.conv2d(padded, attn.ea_conv.weight, attn.ea_conv.bias)
                evolved = combine(mixed, convolved, attn.beta)
                kept.copy_(stacked[:, :, 1:])
            chains[chain] = evolved
        return evolved if blocked is None else evolved.masked_fill(blocked, float("-inf"))


class ContinuousDecoder(IncrementalDecoder):
    """An IncrementalDecoder whose sentences each decode at their own target position.

    Sentences join between steps (``admit``), at position 0, and leave when finished
    (``keep_sentences``); every sentence has ``group`` slots from the start (a beam search
    feeds them the same first token).  A row writes its keys and values at its own column
    and attends to the columns up to it: the later ones are −inf before the softmax and,
    in an evolving self-attention chain, zero in M, as the full forward has the future
    cells; an admitted slot's kept rows of M start at zero.  The sources share the
    cross-attention buffers left-padded to the longest live one, as a static batch is.

    The buffers keep room for more sentences than are live (doubled when full), so that
    joining writes the new slots in place and leaving moves only the last sentences into
    the freed places: no step copies every slot's history.
    """

    def __init__(self, model, encoder_out: dict, max_steps: int, group: int) -> None:
        super().__init__(model, encoder_out, max_steps)
        self.expand(group)
        self.room = self.sentences  # sentences the buffers hold
        device = self.source_padding.device
        self.lengths = torch.zeros(self.sentences, dtype=torch.long, device=device)
        self._columns = torch.arange(max_steps, device=device)
        self._row_lengths = self._row_index = self.lengths
        self._cells: Tensor | None = None
        self._flat: dict[int, Tensor] = {}

    def admit(self, encoder_out: dict) -> None:
        """Add the sentences of ``encoder_out``, each with ``group`` fresh slots at position 0."""
        enc, padding = _encoder_states(encoder_out)
        first, count = self.sentences, enc.size(1)
        room = self.room if first + count <= self.room else max(first + count, 2 * self.room)
        source = max(self.source_padding.size(1), enc.size(0))
        if (room, source) != (self.room, self.source_padding.size(1)):
            self._resize(room, source)
        rows = slice(first * self.group, (first + count) * self.group)
        for layer, cache in zip(self.decoder.layers, self.caches, strict=True):
            for name in cache.slot_buffers():
                getattr(cache, name)[rows].zero_()
            cross_key, cross_value = _cross_states(layer.encoder_attn, enc)
            cache.cross_key[first : first + count] = _left_padded(cross_key, 2, source)
            cache.cross_value[first : first + count] = _left_padded(cross_value, 2, source)
        self.source_padding = torch.cat([self.source_padding,
                                         _left_padded(padding, 1, source, True)])
        self.lengths = torch.cat([self.lengths, self.lengths.new_zeros(count)])
        self.sentences += count
        self._cross_blocked = self._blocked_rows()

    def keep_sentences(self, kept: Tensor) -> None:
        """Keep the sentences ``kept``, in any order: sentence i becomes ``kept[i]``.  Only
        those that change place are copied; unused source columns are dropped when they
        are most of the buffers."""
        group = self.group
        moved = (kept != torch.arange(kept.numel(), device=kept.device)).nonzero().view(-1)
        if moved.numel():
            source, target = kept[moved], moved
            slot_source = (source[:, None] * group + torch.arange(group, device=kept.device))
            slot_target = (target[:, None] * group + torch.arange(group, device=kept.device))
            self.copy_rows(slot_source.view(-1), slot_target.view(-1))
            for cache in self.caches:
                for name in ("cross_key", "cross_value"):
                    buffer = getattr(cache, name)
                    buffer.index_copy_(0, target, buffer.index_select(0, source))
        self.source_padding = self.source_padding.index_select(0, kept)
        self.lengths = self.lengths.index_select(0, kept)
        self.sentences = kept.numel()
        self.width = int(self.lengths.max()) if kept.numel() else 0
        used = (~self.source_padding).any(0)
        columns = used.size(0) - int(used.int().argmax()) if used.any() else 0
        if 0 < columns <= used.size(0) // 2:
            self._resize(self.room, columns)
        self._cross_blocked = self._blocked_rows()

    def copy_rows(self, source: Tensor, target: Tensor) -> None:
        """Slot ``target[i]`` takes the history of slot ``source[i]``: the columns up to the
        longest row's position (beyond a row's own, its kept rows of M are zero)."""
        if source.numel() == 0:
            return
        width = self.width
        for cache in self.caches:
            for name in cache.slot_buffers():
                buffer = getattr(cache, name)
                if name in ("self_key", "self_value"):
                    buffer = buffer[:, :, :width]
                elif name == "self_rows":
                    buffer = buffer[..., :width]
                buffer.index_copy_(0, target, buffer.index_select(0, source))

    def _resize(self, room: int, source: int) -> None:
        """Buffers for ``room`` sentences and ``source`` source columns (the live ones kept,
        sources aligned right)."""
        slots, live = room * self.group, self.sentences
        for cache in self.caches:
            for name in cache.slot_buffers():
                setattr(cache, name, _resized(getattr(cache, name), slots, live * self.group,
                                              source if name == "cross_rows" else None))
            cache.cross_key = _resized(cache.cross_key, room, live, source, dim=2)
            cache.cross_value = _resized(cache.cross_value, room, live, source, dim=2)
        self.source_padding = _left_padded(self.source_padding[:, -source:], 1, source, True)
        self.room = room

    def step(self, tokens: Tensor) -> Tensor:
        """Logits (rows, vocabulary) after feeding ``tokens`` (rows,), each row at its
        sentence's next position."""
        lengths = self.lengths.repeat_interleave(self.group)
        self._row_lengths = lengths
        self._row_index = torch.arange(lengths.numel(), device=lengths.device)
        behind = int(lengths.min()) < self.width
        self._cells = ((self._columns[: self.width + 1] > lengths[:, None])[:, None, None, :]
                       if behind else None)
        self._flat = {}
        return super().step(tokens)

    def _cross_keys(self, cache: _LayerCache) -> tuple[Tensor, Tensor]:
        return cache.cross_key[: self.sentences], cache.cross_value[: self.sentences]

    def _position_rows(self) -> Tensor:
        return self.positions[self._row_lengths]

    def _write_column(self, buffer: Tensor, values: Tensor) -> None:
        """Each row's keys or values at its own column, one index_copy_ into the buffer."""
        rows, heads, dim = values.shape
        flat = self._flat.get(heads)
        if flat is None:  # element (row, head, length) of (slots, heads, capacity)
            index = self._row_index[:, None] * heads + torch.arange(heads, device=values.device)
            flat = (index * self.capacity + self._row_lengths[:, None]).view(-1)
            self._flat[heads] = flat
        buffer.view(-1, dim).index_copy_(0, flat, values.reshape(rows * heads, dim))

    def _future(self) -> Tensor | None:
        return self._cells

    def _advance(self) -> None:
        self.lengths = self.lengths + 1
        self.width += 1


def _softmax(scores: Tensor) -> Tensor:
    """fairseq's attention softmax: over the keys, in fp32 whatever the scores' type."""
    if scores.dtype == torch.float32:
        return F.softmax(scores, dim=-1)
    return F.softmax(scores, dim=-1, dtype=torch.float32).type_as(scores)


def _resized(buffer: Tensor, room: int, live: int, source: int | None, dim: int = -1) -> Tensor:
    """A zeroed ``buffer`` of ``room`` entries (first dimension), holding its first ``live``
    ones; with ``source``, its dimension ``dim`` takes that size, kept or padded on the left."""
    kept = buffer[:live]
    shape = [room, *buffer.shape[1:]]
    if source is not None:
        kept = kept.narrow(dim, max(0, kept.size(dim) - source), min(source, kept.size(dim)))
        shape[dim] = source
    resized = buffer.new_zeros(shape)
    target = resized[:live]
    if source is not None:
        target = target.narrow(dim, source - kept.size(dim), kept.size(dim))
    target.copy_(kept)
    return resized


def _left_padded(tensor: Tensor, dim: int, width: int, value: float | bool = 0) -> Tensor:
    """``tensor`` widened to ``width`` along ``dim`` by ``value``s in front."""
    missing = width - tensor.size(dim)
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_full(shape, value), tensor], dim)


def _encoder_states(encoder_out: dict) -> tuple[Tensor, Tensor]:
    """The encoder's outputs (source, sentences, channels) and padding (sentences, source)."""
    enc = encoder_out["encoder_out"][0]
    masks = encoder_out["encoder_padding_mask"]
    padding = masks[0] if masks else enc.new_zeros(enc.shape[:2][::-1], dtype=torch.bool)
    return enc, padding.bool()


def _cross_states(attn, enc: Tensor) -> tuple[Tensor, Tensor]:
    """The encoder–decoder keys and values of ``enc`` (source, sentences, channels), each
    (sentences, heads, source, head_dim), computed as fairseq's MultiheadAttention does."""
    source, sentences = enc.size(0), enc.size(1)
    heads, dim = attn.num_heads, attn.head_dim
    key = attn.k_proj(enc).view(source, sentences * heads, dim)
    value = attn.v_proj(enc).view(source, sentences * heads, dim)
    return (key.transpose(0, 1).reshape(sentences, heads, source, dim),
            value.transpose(0, 1).reshape(sentences, heads, source, dim))


def _kept_rows(attn, slots: int, columns: int, kwargs: dict) -> Tensor | None:
    """Zeroed room for the last k−1 rows of M, for an EA module that convolves."""
    if not isinstance(attn, EvolvingMultiheadAttention) or attn.ea_conv is None:
        return None
    return torch.zeros(slots, attn.num_heads, attn.window.top, columns, **kwargs)


def _widened(buffer: Tensor, dim: int, width: int, capacity: int) -> Tensor:
    """``buffer`` with room for ``capacity`` along ``dim``: its first ``width`` kept, then zeros."""
    shape = list(buffer.shape)
    shape[dim] = capacity
    widened = buffer.new_zeros(shape)
    widened.narrow(dim, 0, width).copy_(buffer.narrow(dim, 0, width))
    return widened
