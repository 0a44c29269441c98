"""Multi-head attention whose maps evolve along a chain of layers (fairseq subclass)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from fairseq import utils
from fairseq.modules import MultiheadAttention
from torch import Tensor, nn

from ea_mt.models.config import EAConfig
from ea_mt.models.evolving import (
    ConvWindow,
    combine,
    convolve_map,
    convolve_new_rows,
    mix_with_previous,
)

IncrementalState = dict[str, dict[str, Tensor | None]]
MapObserver = Callable[["EvolvingMultiheadAttention", dict[str, Tensor]], None]


def blocked_cells(key_padding_mask: Tensor | None, attn_mask: Tensor | None) -> Tensor | None:
    """Cells no query may attend to, as a boolean map broadcastable to (B, H, Tq, Tk)."""
    blocked = None
    if key_padding_mask is not None:
        blocked = key_padding_mask.bool()[:, None, None, :]
    if attn_mask is not None:
        future = (attn_mask.isneginf() if attn_mask.is_floating_point() else attn_mask.bool())
        blocked = future[None, None] if blocked is None else blocked | future[None, None]
    return blocked


def with_padding_rows(blocked: Tensor | None, key_padding_mask: Tensor | None) -> Tensor | None:
    """``blocked`` plus the rows of padding queries (self-attention: queries are the keys)."""
    if key_padding_mask is None:
        return blocked
    rows = key_padding_mask.bool()[:, None, :, None]
    return rows if blocked is None else blocked | rows


class AttentionChain:
    """Hands each layer's pre-softmax map A on to the next layer of one chain.

    The encoder or decoder opens a ``forward_pass`` around its layer loop; each layer of
    the chain reads the map its predecessor left and leaves its own.  LayerDrop simply
    skips a link; a layer that finds no map behaves as the chain's first (plain) layer.
    """

    def __init__(self) -> None:
        self.length = 0
        self.previous: Tensor | None = None

    def join(self) -> int:
        """Add a layer to the chain and return its position (0 for the first)."""
        self.length += 1
        return self.length - 1

    @contextmanager
    def forward_pass(self) -> Iterator[None]:
        """Start the chain empty, and hold no map once the pass is over."""
        self.previous = None
        try:
            yield
        finally:
            self.previous = None


class EvolvingMultiheadAttention(MultiheadAttention):
    """fairseq's MultiheadAttention with the evolving-attention update of its logits.

    Parameter names are fairseq's (``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``) plus
    ``ea_conv`` (heads → heads, k×k), which the first layer of a chain does not have.
    In incremental decoding the last k−1 rows of M are kept in this module's own
    ``ea_state`` buffer and reordered with the beam.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        ea: EAConfig,
        chain: AttentionChain,
        chain_name: str,
        **mha_kwargs,
    ) -> None:
        super().__init__(embed_dim, num_heads, **mha_kwargs)
        if self.use_xformers:
            raise ValueError("evolving attention needs explicit maps; xformers is not supported")
        if self.bias_k is not None or self.add_zero_attn:
            raise ValueError("evolving attention does not support add_bias_kv/add_zero_attn")
        # PyTorch's fused attention never shows the logits; fairseq's explicit path does.
        self.skip_embed_dim_check = True
        self.chain = chain
        self.chain_position = chain.join()
        self.window = ConvWindow.for_chain(chain_name, ea.kernel_size)
        self.ea_config = ea
        self.alpha = ea.alpha  # effective weights: full, or ramped in training (set_num_updates)
        self.beta = ea.beta
        self.ea_conv = (
            nn.Conv2d(num_heads, num_heads, ea.kernel_size)
            if self.chain_position > 0 and ea.beta > 0
            else None
        )
        # Called as observer(module, maps) with every map of a forward (see
        # ea_mt.inspection.capture); None, the default, costs nothing.
        self.observer: MapObserver | None = None

    def set_num_updates(self, num_updates: int) -> None:
        """fairseq's per-update hook in training: α and β follow ``--ea-ramp-updates``
        (never called at inference, where the full α and β apply)."""
        scale = self.ea_config.ramp(num_updates)
        self.alpha, self.beta = self.ea_config.alpha * scale, self.ea_config.beta * scale

    def forward(
        self,
        query: Tensor,
        key: Tensor | None,
        value: Tensor | None,
        key_padding_mask: Tensor | None = None,
        incremental_state: IncrementalState | None = None,
        need_weights: bool = True,
        static_kv: bool = False,
        attn_mask: Tensor | None = None,
        before_softmax: bool = False,
        need_head_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Same contract as fairseq's MultiheadAttention.forward (Time × Batch × Channel)."""
        if before_softmax:
            raise ValueError("evolving attention returns evolved maps, not raw logits")
        tgt_len, bsz, embed_dim = query.size()
        if incremental_state is None:
            # Raw logits; the masks are applied once, below, as broadcast boolean maps.
            logits, values = super().forward(
                query, key, value, need_weights=False, static_kv=static_kv, before_softmax=True
            )
            logits = logits.view(bsz, self.num_heads, tgt_len, -1)
            blocked = blocked_cells(key_padding_mask, attn_mask)
        else:
            # fairseq's cache knows which keys are padding: read the masks off its -inf cells.
            logits, values = super().forward(
                query, key, value, key_padding_mask=key_padding_mask,
                incremental_state=incremental_state, need_weights=False, static_kv=static_kv,
                attn_mask=attn_mask, before_softmax=True,
            )
            logits = logits.view(bsz, self.num_heads, tgt_len, -1)
            blocked = torch.isneginf(logits)
            logits = logits.masked_fill(blocked, 0.0)

        maps: dict[str, Tensor] | None = {"logits": logits} if self.observer else None
        evolved = self._evolve(logits, blocked, key_padding_mask, incremental_state, maps)
        scores = logits if evolved is None else evolved
        if blocked is not None:
            scores = scores.masked_fill(blocked, float("-inf"))

        weights_float = utils.softmax(scores, dim=-1, onnx_trace=self.onnx_trace)
        if maps is not None:
            self.observer(self, dict(maps, weights=weights_float))
        probs = self.dropout_module(weights_float.type_as(scores))
        attn = self._weigh_values(probs, values, bsz)
        attn = attn.transpose(0, 1).reshape(tgt_len, bsz, embed_dim)
        attn = self.out_proj(attn)

        if not need_weights and not need_head_weights:
            return attn, None
        head_weights = weights_float.transpose(1, 0)
        return attn, (head_weights if need_head_weights else head_weights.mean(dim=0))

    def _evolve(
        self,
        logits: Tensor,
        blocked: Tensor | None,
        key_padding_mask: Tensor | None,
        incremental_state: IncrementalState | None,
        maps: dict[str, Tensor] | None,
    ) -> Tensor | None:
        """Apply the update; hand A to the chain; return A, or None where softmax(L) is used.

        Where a convolution follows, the rows of padding queries are zeroed in M too, so
        that a sentence's map reads the same neighbours alone as inside a padded batch.
        """
        previous = self.chain.previous
        if previous is None:
            self.chain.previous = logits
            return None
        zero_mask = blocked
        if self.ea_conv is not None and self.self_attention and incremental_state is None:
            zero_mask = with_padding_rows(blocked, key_padding_mask)
        mixed = mix_with_previous(logits, previous, zero_mask, self.alpha)
        evolved = mixed
        if self.ea_conv is not None:
            convolved = self._convolve(mixed, incremental_state)
            evolved = combine(mixed, convolved, self.beta)
            if maps is not None:
                maps["convolution_branch"] = self.beta * F.relu(convolved)
        if maps is not None:
            maps.update(mixed=mixed, evolved=evolved)
        self.chain.previous = evolved
        return evolved

    def _convolve(self, mixed: Tensor, incremental_state: IncrementalState | None) -> Tensor:
        """Conv(M): over the whole map, or over the new rows given the kept ones."""
        assert self.ea_conv is not None
        if incremental_state is None:
            return convolve_map(mixed, self.ea_conv, self.window)
        if not self.window.is_row_causal:
            raise ValueError("incremental decoding needs a row-causal convolution window")
        kept = self.window.top
        if kept == 0:
            return convolve_new_rows(mixed[:, :, :0], mixed, self.ea_conv, self.window)
        state = self._get_ea_state(incremental_state)
        history = state.get("mixed_rows")
        if history is None:
            history = mixed.new_zeros(mixed.shape[:2] + (kept, mixed.size(-1)))
        elif history.size(-1) < mixed.size(-1):  # the self-attention map gained key columns
            history = F.pad(history, (0, mixed.size(-1) - history.size(-1)))
        convolved = convolve_new_rows(history, mixed, self.ea_conv, self.window)
        state["mixed_rows"] = torch.cat([history, mixed], dim=2)[:, :, -kept:]
        self._set_ea_state(incremental_state, state)
        return convolved

    def _weigh_values(self, probs: Tensor, values: Tensor, bsz: int) -> Tensor:
        """probs · V as (batch·heads, tgt_len, head_dim), also for fairseq's beamable keys."""
        heads, tgt_len, src_len = self.num_heads, probs.size(2), probs.size(3)
        kv_bsz = values.size(0) // heads
        if kv_bsz == bsz:
            return torch.bmm(probs.reshape(bsz * heads, tgt_len, src_len), values)
        grouped = torch.einsum(
            "bxhts,bhsd->bxhtd",
            probs.reshape(kv_bsz, -1, heads, tgt_len, src_len),
            values.view(kv_bsz, heads, src_len, self.head_dim),
        )
        return grouped.reshape(bsz * heads, tgt_len, self.head_dim)

    @torch.jit.export
    def reorder_incremental_state(
        self, incremental_state: IncrementalState, new_order: Tensor
    ) -> IncrementalState:
        """Reorder fairseq's key/value cache and, always, the kept rows of M."""
        incremental_state = super().reorder_incremental_state(incremental_state, new_order)
        state = self._get_ea_state(incremental_state)
        if state:
            reordered = {
                name: None if rows is None else rows.index_select(0, new_order)
                for name, rows in state.items()
            }
            incremental_state = self._set_ea_state(incremental_state, reordered)
        return incremental_state

    def _get_ea_state(self, incremental_state: IncrementalState | None) -> dict[str, Tensor | None]:
        return self.get_incremental_state(incremental_state, "ea_state") or {}

    def _set_ea_state(
        self, incremental_state: IncrementalState, state: dict[str, Tensor | None]
    ) -> IncrementalState:
        return self.set_incremental_state(incremental_state, "ea_state", state)
