"""One matrix product for the query, key and value projections of a decoder step.

fairseq's ``MultiheadAttention`` keeps ``q_proj``, ``k_proj`` and ``v_proj`` as three
Linear layers; a decoding step of self-attention applies all three to the same input.
:func:`fused_projection` concatenates their weights once, so the step makes one product
and three views instead of three products: each output column is the same dot product as
before (fp32, bf16 and the int8 layers of ``quantization``, whose scales are per output
channel and per input row, alike).  The concatenation is cached per module and rebuilt
when a weight changes (in place or replaced).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ea_mt.decoding.quantization import Int8Linear, stacked_bias

Projection = Callable[[Tensor], Tensor]

_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, Projection]] = (
    weakref.WeakKeyDictionary())


def fused_projection(attn: nn.Module) -> Projection | None:
    """``x -> cat([q_proj(x), k_proj(x), v_proj(x)], -1)`` as one product, or None when the
    three projections are not all plain Linear or all :class:`Int8Linear` layers."""
    layers = (attn.q_proj, attn.k_proj, attn.v_proj)
    kinds = {type(layer) for layer in layers}
    if kinds not in ({nn.Linear}, {Int8Linear}):
        return None
    key = tuple((id(t), t._version) for layer in layers for t in _tensors(layer))
    cached = _CACHE.get(attn)
    if cached is not None and cached[0] == key:
        return cached[1]
    projection = _linear(layers) if kinds == {nn.Linear} else Int8Linear.stacked(layers)
    _CACHE[attn] = (key, projection)
    return projection


def _tensors(layer: nn.Module) -> list[Tensor]:
    return [*layer.parameters(), *layer.buffers()]


def _linear(layers) -> Projection:
    """The concatenated Linear layers (a layer without bias adds zeros)."""
    weight = torch.cat([layer.weight.detach() for layer in layers])
    bias = stacked_bias(layers)
    return lambda x: F.linear(x, weight, bias)
