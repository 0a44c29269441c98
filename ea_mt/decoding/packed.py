"""The linear layers of a decoding step as oneDNN products over weights packed once.

``F.linear`` on the CPU multiplies by the weight as stored, every call.  oneDNN, which
PyTorch ships, can reorder a weight once into the blocked layout its matrix kernel reads
and then multiply by it directly: measured on the decoder's shapes (1 thread, fp32), the
output projection (128 → 8001) at 320 rows takes 2.7 ms instead of 7.0 ms and at 5 rows
69 µs instead of 229 µs; the 128-wide layers gain about 2x from 64 rows on, but lose at a
handful of rows, where the call's fixed cost dominates.  So a packed layer multiplies with
oneDNN when rows × outputs reach :data:`PACKED_MIN_OUTPUTS` and with ``F.linear`` below.

The result is the same dot products summed in another order: equal to ``F.linear`` up to
fp32 rounding.  Only fp32 weights on the CPU are packed; any other layer (bf16, CUDA,
:class:`~ea_mt.decoding.quantization.Int8Linear`) is called as it is.

:func:`layer_projection` caches a layer's projection and rebuilds it when a weight
changes (in place or replaced), so a decoder built per batch packs nothing twice.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Projection = Callable[[Tensor], Tensor]

# Rows × output features from which the packed product beats F.linear (measured: 5 rows ×
# 8001 outputs and 64 rows × 384 are faster packed, 5 rows × 384 and 64 × 128 are not).
PACKED_MIN_OUTPUTS = 16384
_PACKING_ROWS = 64  # the row count oneDNN picks its weight layout for (any ≥ 5 measured alike)

_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[Hashable, Projection]] = (
    weakref.WeakKeyDictionary())


def cached(module: nn.Module, layers: Sequence[nn.Module],
           build: Callable[[], Projection]) -> Projection:
    """``build()``'s projection for ``module``, kept until a tensor of ``layers`` changes."""
    key = tuple((id(t), t._version) for layer in layers
                for t in (*layer.parameters(), *layer.buffers()))
    hit = _CACHE.get(module)
    if hit is not None and hit[0] == key:
        return hit[1]
    projection = build()
    _CACHE[module] = (key, projection)
    return projection


def layer_projection(layer: nn.Module) -> Projection:
    """``layer`` as a callable: packed when it is a plain fp32 CPU ``nn.Linear``."""
    if type(layer) is not nn.Linear:
        return layer
    return cached(layer, [layer], lambda: linear(
        layer.weight.detach(), None if layer.bias is None else layer.bias.detach()))


def linear(weight: Tensor, bias: Tensor | None) -> Projection:
    """``x -> F.linear(x, weight, bias)`` for 2-d ``x``, over a packed weight where it pays."""
    if not _packable(weight):
        return lambda x: F.linear(x, weight, bias)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, _PACKING_ROWS)
    min_rows = -(-PACKED_MIN_OUTPUTS // weight.size(0))

    def project(x: Tensor) -> Tensor:
        if x.size(0) < min_rows:
            return F.linear(x, weight, bias)
        return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")

    return project


def _packable(weight: Tensor) -> bool:
    return (weight.dtype == torch.float32 and weight.device.type == "cpu"
            and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_reorder_linear_weight"))
