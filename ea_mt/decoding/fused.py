"""One matrix product for the query, key and value projections of a decoder step.

fairseq's ``MultiheadAttention`` keeps ``q_proj``, ``k_proj`` and ``v_proj`` as three
Linear layers; a decoding step of self-attention applies all three to the same input.
:func:`fused_projection` concatenates their weights once, so the step makes one product
and three views instead of three products: each output column is the same dot product as
before (fp32, bf16 and the int8 layers of ``quantization``, whose scales are per output
channel and per input row, alike; fp32 on the CPU over a packed weight, see ``packed``).
The concatenation is cached per module and rebuilt when a weight changes (in place or
replaced).
"""

from __future__ import annotations

import torch
from torch import nn

from ea_mt.decoding.packed import Projection, cached, linear
from ea_mt.decoding.quantization import Int8Linear, stacked_bias


def fused_projection(attn: nn.Module) -> Projection | None:
    """``x -> cat([q_proj(x), k_proj(x), v_proj(x)], -1)`` as one product, or None when the
    three projections are not all plain Linear or all :class:`Int8Linear` layers."""
    layers = (attn.q_proj, attn.k_proj, attn.v_proj)
    kinds = {type(layer) for layer in layers}
    if kinds not in ({nn.Linear}, {Int8Linear}):
        return None
    if kinds == {Int8Linear}:
        return cached(attn, layers, lambda: Int8Linear.stacked(layers))
    return cached(attn, layers, lambda: linear(
        torch.cat([layer.weight.detach() for layer in layers]), stacked_bias(layers)))
