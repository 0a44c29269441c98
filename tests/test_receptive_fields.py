"""Each chain's convolution reads exactly the cells the method lists, for k = 3 and k = 5."""

import pytest
import torch

from ea_mt.models import AttentionChain, EAConfig, EvolvingMultiheadAttention
from ea_mt.models.evolving import convolve_map, convolve_new_rows

HEADS, ROWS, COLS = 2, 9, 11


def spec_window(chain: str, k: int, i: int, j: int) -> set[tuple[int, int]]:
    """The cells (row, column) that output cell (i, j) may read, as DEVELOPERS.md states them."""
    h, back = k // 2, k - 1
    rows, cols = {
        "encoder": (range(i - h, i + h + 1), range(j - h, j + h + 1)),
        "decoder": (range(i - back, i + 1), range(j - back, j + 1)),
        "cross": (range(i - back, i + 1), range(j - h, j + h + 1)),
    }[chain]
    return {(r, c) for r in rows for c in cols if 0 <= r < ROWS and 0 <= c < COLS}


def second_link(chain: str, k: int) -> EvolvingMultiheadAttention:
    """The second layer of a chain (the first has no convolution)."""
    links = AttentionChain()
    links.join()
    kinds = {"self_attention": chain != "cross", "encoder_decoder_attention": chain == "cross"}
    return EvolvingMultiheadAttention(
        8, HEADS, ea=EAConfig(kernel_size=k), chain=links, chain_name=chain, **kinds
    )


def cells_read(module: EvolvingMultiheadAttention, i: int, j: int) -> set[tuple[int, int]]:
    mixed = torch.randn(1, HEADS, ROWS, COLS, requires_grad=True)
    out = convolve_map(mixed, module.ea_conv, module.window)
    assert out.shape == mixed.shape
    (grad,) = torch.autograd.grad(out[0, :, i, j].sum(), mixed)
    nonzero = grad.abs().sum(dim=(0, 1)) > 0
    return {(int(r), int(c)) for r, c in nonzero.nonzero()}


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("chain", ["encoder", "decoder", "cross"])
def test_convolution_reads_exactly_the_window(chain: str, k: int) -> None:
    torch.manual_seed(k)
    module = second_link(chain, k)
    for i in range(ROWS):
        for j in range(COLS):
            assert cells_read(module, i, j) == spec_window(chain, k, i, j), (i, j)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("chain", ["decoder", "cross"])
def test_causal_windows_never_read_below_or_right_of_the_causal_cell(chain: str, k: int) -> None:
    module = second_link(chain, k)
    for i in range(ROWS):
        for j in range(COLS):
            read = cells_read(module, i, j)
            assert all(r <= i for r, _ in read)
            if chain == "decoder":
                assert all(c <= j for _, c in read)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("chain", ["decoder", "cross"])
def test_row_by_row_convolution_equals_the_whole_map(chain: str, k: int) -> None:
    """What incremental decoding computes from the kept k−1 rows equals the full convolution."""
    torch.manual_seed(0)
    module = second_link(chain, k)
    mixed = torch.randn(2, HEADS, ROWS, COLS)
    if chain == "decoder":
        mixed = mixed.masked_fill(torch.ones(ROWS, COLS, dtype=torch.bool).triu(1), 0.0)
    full = convolve_map(mixed, module.ea_conv, module.window)
    kept = k - 1
    history = torch.zeros(2, HEADS, kept, COLS)
    for t in range(ROWS):
        row = convolve_new_rows(history, mixed[:, :, t : t + 1], module.ea_conv, module.window)
        torch.testing.assert_close(row, full[:, :, t : t + 1], rtol=1e-5, atol=1e-5)
        if kept:
            history = torch.cat([history, mixed[:, :, t : t + 1]], dim=2)[:, :, -kept:]
