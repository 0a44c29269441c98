"""The fast decoder's Linear layers over oneDNN-packed weights (ea_mt/decoding/packed.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ea_mt.decoding.packed import PACKED_MIN_OUTPUTS, layer_projection, linear
from ea_mt.decoding.quantization import Int8Linear

needs_onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(),
                                  reason="this torch build has no oneDNN")


def layer(inputs: int = 32, outputs: int = 1000, bias: bool = True) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(inputs, outputs, bias=bias)


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rows", [1, 16, 17, 300])
def test_a_packed_layer_computes_the_linear_layer(rows: int, bias: bool) -> None:
    linear_layer = layer(bias=bias)
    # rows × 1000 outputs: below PACKED_MIN_OUTPUTS up to 16 rows, packed from 17.
    x = torch.randn(rows, 32)
    with torch.inference_mode():
        torch.testing.assert_close(layer_projection(linear_layer)(x), linear_layer(x),
                                   rtol=1e-5, atol=1e-5)


@needs_onednn
def test_the_packed_product_is_onednns() -> None:
    weight, x = torch.randn(1000, 32), torch.randn(PACKED_MIN_OUTPUTS // 1000 + 1, 32)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, 64)
    onednn = torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], "")
    assert torch.equal(linear(weight, None)(x), onednn)


@needs_onednn
def test_a_changed_weight_repacks_the_layer() -> None:
    linear_layer, x = layer(), torch.randn(100, 32)
    with torch.no_grad():
        first = layer_projection(linear_layer)
        assert layer_projection(linear_layer) is first  # packed once while nothing changes
        linear_layer.weight.mul_(2.0)  # in place
        torch.testing.assert_close(layer_projection(linear_layer)(x), linear_layer(x))
        linear_layer.bias = nn.Parameter(torch.ones(1000))  # replaced
        torch.testing.assert_close(layer_projection(linear_layer)(x), linear_layer(x))


def test_layers_that_are_not_fp32_linear_on_the_cpu_are_called_as_they_are() -> None:
    int8 = Int8Linear.from_linear(layer())
    assert layer_projection(int8) is int8
    half = layer().to(torch.bfloat16)
    x = torch.randn(100, 32, dtype=torch.bfloat16)
    with torch.no_grad():
        assert torch.equal(layer_projection(half)(x), half(x))
