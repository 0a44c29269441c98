"""The fast decoder's fused query/key/value projection (ea_mt/decoding/fused.py)."""

from __future__ import annotations

import pytest
import torch
from fairseq.modules import MultiheadAttention
from torch import nn

from ea_mt.decoding.fused import fused_projection
from ea_mt.decoding.quantization import Int8Linear, quantize_linear_layers


def attention(bias: bool = True) -> MultiheadAttention:
    torch.manual_seed(0)
    return MultiheadAttention(32, 4, bias=bias, self_attention=True)


def separate(attn: MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)], dim=-1)


@pytest.mark.parametrize("bias", [True, False])
def test_the_fused_projection_is_the_three_projections_side_by_side(bias: bool) -> None:
    attn, x = attention(bias), torch.randn(7, 32)
    with torch.no_grad():
        fused = fused_projection(attn)
        assert fused is not None
        torch.testing.assert_close(fused(x), separate(attn, x), rtol=1e-6, atol=1e-6)
        quantize_linear_layers(attn)
        assert isinstance(attn.q_proj, Int8Linear)
        # int8: every output channel has its own scale and sums exactly in int32.
        assert torch.equal(fused_projection(attn)(x), separate(attn, x))


def test_a_changed_weight_rebuilds_the_fused_projection() -> None:
    attn, x = attention(), torch.randn(3, 32)
    with torch.no_grad():
        first = fused_projection(attn)
        assert fused_projection(attn) is first  # cached while nothing changes
        attn.k_proj.weight.mul_(2.0)  # in place
        torch.testing.assert_close(fused_projection(attn)(x), separate(attn, x))
        attn.v_proj.bias = nn.Parameter(torch.ones(32))  # replaced
        torch.testing.assert_close(fused_projection(attn)(x), separate(attn, x))


def test_projections_of_other_kinds_are_not_fused() -> None:
    attn = attention()
    attn.k_proj = Int8Linear.from_linear(attn.k_proj)  # a mix of kinds
    assert fused_projection(attn) is None
