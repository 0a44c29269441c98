"""int8 translation on the CPU: a loaded model's Linear layers made int8, in place.

:func:`quantize_linear_layers` replaces every ``nn.Linear`` (attention projections,
feed-forward layers, the decoder's output projection) by an :class:`Int8Linear`: int8
weights with one scale per output channel, and each input row quantized to int8 with its own
scale when it arrives (symmetric, dynamic); the products are summed exactly in int32 by
``torch._int_mm`` and scaled back to fp32.  Embeddings, layer norms and the EA convolutions
stay fp32.  A row's result does not depend on the other rows of its batch, so a line
translates as alone in any batch (but for the rare float rounding of a batched fp32 kernel
that moves a value across an int8 step).

Why not a quantization library, measured on the Multi30k models (1 thread, beam 5, batch
64): torchao's ``quantize_``, the maintained successor of ``torch.ao.quantization``, runs
this same recipe on the same int8 product, but with its scaling unfused in eager mode, and
translated no faster than fp32 (0.6-1.0x; this module 1.3-1.5x); it beats fp32 on the CPU
under ``torch.compile`` only.  The deprecated ``torch.ao.quantization.quantize_dynamic`` is
about as fast as this module but quantizes a whole batch with one activation scale, so a
line's translation changed with the lines batched with it (17-19 lines in 100 did; 0-1 here).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

INT8_MAX = 127  # symmetric: int8 values in [-127, 127]
_MIN_RANGE = 1e-12  # the range of an all-zero row or channel, so its scale is not 0


class Int8Linear(nn.Module):
    """An ``nn.Linear`` computed in int8: ``y = (q(x) @ q(W)ᵀ) · s_x · s_W + b``."""

    def __init__(self, weight_t: Tensor, weight_scale: Tensor, bias: Tensor | None) -> None:
        """From int8 weights in (in, out) layout, the layout torch._int_mm multiplies by,
        one fp32 scale per output channel, and an fp32 bias or None."""
        super().__init__()
        self.in_features, self.out_features = weight_t.shape
        self.register_buffer("weight_t", weight_t)
        self.register_buffer("weight_scale", weight_scale)
        self.register_buffer("bias", bias)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        """The int8 version of ``linear``."""
        weight = linear.weight.detach().float()
        scale = _scales(weight)
        bias = linear.bias
        return cls(_quantized(weight, scale).t().contiguous(), scale.view(-1),
                   None if bias is None else bias.detach().float().clone())

    @classmethod
    def stacked(cls, layers: list[Int8Linear]) -> Int8Linear:
        """One layer whose outputs are those of ``layers`` (same input) side by side: each
        output channel is computed exactly as in its own layer."""
        return cls(torch.cat([layer.weight_t for layer in layers], dim=1),
                   torch.cat([layer.weight_scale for layer in layers]), stacked_bias(layers))

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, self.in_features)
        scale = _scales(rows)
        y = torch._int_mm(_quantized(rows, scale), self.weight_t).float()
        y.mul_(scale).mul_(self.weight_scale)
        if self.bias is not None:
            y.add_(self.bias)
        return y.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def quantize_linear_layers(model: nn.Module) -> nn.Module:
    """``model`` (fp32, for inference on the CPU) with every Linear layer an
    :class:`Int8Linear`; in place (a tied output projection gets its own int8 copy)."""
    from fairseq.modules import MultiheadAttention

    for module in list(model.modules()):
        if isinstance(module, MultiheadAttention):
            # Else fairseq hands the projections' weight tensors to PyTorch's fused
            # attention, which an Int8Linear does not have; it calls them instead.
            module.skip_embed_dim_check = True
        for name, child in module.named_children():
            if type(child) is nn.Linear:
                setattr(module, name, Int8Linear.from_linear(child))
    return model


def stacked_bias(layers: list[nn.Module]) -> Tensor | None:
    """The biases of Linear or Int8Linear ``layers`` end to end, zeros for a layer without
    one; None when none has one."""
    present = [layer.bias for layer in layers if layer.bias is not None]
    if not present:
        return None
    return torch.cat([present[0].new_zeros(layer.out_features) if layer.bias is None
                      else layer.bias.detach() for layer in layers])


def _scales(rows: Tensor) -> Tensor:
    """One scale per row of ``rows`` (rows, 1): its largest magnitude maps to 127."""
    return rows.abs().amax(dim=1, keepdim=True).clamp(min=_MIN_RANGE) / INT8_MAX


def _quantized(rows: Tensor, scales: Tensor) -> Tensor:
    return torch.round(rows / scales).to(torch.int8)
