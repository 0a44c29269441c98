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

In fp32 each step equals the model's own incremental forward (and so its teacher-forced
forward) up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from fairseq import utils
from fairseq.modules import MultiheadAttention
from fairseq.modules.transformer_layer import TransformerDecoderLayerBase
from torch import Tensor

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
        enc = encoder_out["encoder_out"][0]  # (source, sentences, channels)
        masks = encoder_out["encoder_padding_mask"]
        padding = masks[0] if masks else enc.new_zeros(enc.shape[:2][::-1], dtype=torch.bool)
        self.source_padding = padding.bool()  # (sentences, source)
        self.sentences = enc.size(1)
        self.group = 1
        self.width = 0  # target positions decoded so far
        self.max_steps = max_steps
        self.capacity = min(INITIAL_CAPACITY, max_steps)
        self.positions = self._position_table(max_steps, enc)
        slots = self.sentences  # grows to sentences·beam on expand
        self.caches = [self._layer_cache(layer, enc, slots, self.capacity)
                       for layer in self.decoder.layers]
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
        source, sentences = enc.size(0), enc.size(1)
        # Computed exactly as fairseq's MultiheadAttention does for the encoder's outputs.
        cross_key = cross.k_proj(enc).view(source, sentences * cross.num_heads, cross.head_dim)
        cross_value = cross.v_proj(enc).view(source, sentences * cross.num_heads, cross.head_dim)
        return _LayerCache(
            self_key=torch.zeros(slots, heads, steps, dim, **kwargs),
            self_value=torch.zeros(slots, heads, steps, dim, **kwargs),
            cross_key=cross_key.transpose(0, 1).reshape(sentences, cross.num_heads, source, -1),
            cross_value=cross_value.transpose(0, 1).reshape(sentences, cross.num_heads, source, -1),
            self_rows=_kept_rows(self_attn, slots, steps, kwargs),
            cross_rows=_kept_rows(cross, slots, source, kwargs),
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
            x += self.positions[t]
        if decoder.layernorm_embedding is not None:
            x = decoder.layernorm_embedding(x)
        chains: dict[str, Tensor | None] = {"self": None, "cross": None}
        for layer, cache in zip(decoder.layers, self.caches, strict=True):
            x = self._layer(layer, cache, x, chains)
        self.width = t + 1
        if decoder.layer_norm is not None:
            x = decoder.layer_norm(x)
        if decoder.project_out_dim is not None:
            x = decoder.project_out_dim(x)
        return decoder.output_projection(x)

    def _layer(self, layer, cache: _LayerCache, x: Tensor, chains: dict) -> Tensor:
        """TransformerDecoderLayerBase.forward for one position, on (rows, channels)."""
        residual = x
        if layer.normalize_before:
            x = layer.self_attn_layer_norm(x)
        x = self._self_attention(layer.self_attn, cache, x, chains)
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
        x = self._cross_attention(layer.encoder_attn, cache, x, chains)
        x = layer.residual_connection(x, residual)
        if not layer.normalize_before:
            x = layer.encoder_attn_layer_norm(x)

        residual = x
        if layer.normalize_before:
            x = layer.final_layer_norm(x)
        x = layer.activation_fn(layer.fc1(x))
        if layer.ffn_layernorm is not None:
            x = layer.ffn_layernorm(x)
        x = layer.fc2(x)
        if layer.w_resid is not None:
            residual = torch.mul(layer.w_resid, residual)
        x = layer.residual_connection(x, residual)
        if not layer.normalize_before:
            x = layer.final_layer_norm(x)
        return x

    def _self_attention(self, attn, cache: _LayerCache, x: Tensor, chains: dict) -> Tensor:
        rows, t = x.size(0), self.width
        heads, dim = attn.num_heads, attn.head_dim
        q = attn.q_proj(x)
        k = attn.k_proj(x)
        v = attn.v_proj(x)
        q *= attn.scaling
        cache.self_key[:rows, :, t] = k.view(rows, heads, dim)
        cache.self_value[:rows, :, t] = v.view(rows, heads, dim)
        keys = cache.self_key[:rows, :, : t + 1]
        logits = torch.matmul(q.view(rows, heads, 1, dim), keys.transpose(2, 3))
        rows_of_m = None if cache.self_rows is None else cache.self_rows[:rows, ..., : t + 1]
        scores = self._evolve(attn, logits, None, rows_of_m, chains, "self")
        probs = utils.softmax(scores, dim=-1).type_as(scores)
        out = torch.matmul(probs, cache.self_value[:rows, :, : t + 1])  # (rows, heads, 1, dim)
        return attn.out_proj(out.view(rows, heads * dim))

    def _cross_attention(self, attn, cache: _LayerCache, x: Tensor, chains: dict) -> Tensor:
        rows, heads, dim = x.size(0), attn.num_heads, attn.head_dim
        q = attn.q_proj(x)
        q *= attn.scaling
        grouped = q.view(self.sentences, self.group, heads, 1, dim)
        logits = torch.einsum("bxhtd,bhsd->bxhts", grouped, cache.cross_key)
        source = logits.size(-1)
        logits = logits.reshape(rows, heads, 1, source)
        blocked = self._cross_blocked
        logits = logits.masked_fill(blocked, float("-inf"))
        rows_of_m = None if cache.cross_rows is None else cache.cross_rows[:rows]
        scores = self._evolve(attn, logits, blocked, rows_of_m, chains, "cross")
        probs = utils.softmax(scores, dim=-1).type_as(scores)
        out = torch.einsum(
            "bxhts,bhsd->bxhtd", probs.view(self.sentences, self.group, heads, 1, source),
            cache.cross_value,
        )
        return attn.out_proj(out.reshape(rows, heads * dim))

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
