"""The evolving-attention update as pure tensor functions.

Maps have shape ``(batch, heads, query_len, key_len)``; the heads are the channels of
the convolution.  In layer i of a chain, with ``L`` the raw logits QKᵀ/√d:

    M = α·A_prev + (1−α)·L          (masked cells of M set to zero)
    A = β·ReLU(Conv(M)) + (1−β)·M   (A goes on to the next layer; softmax(A) weighs values)

The convolution window depends on the chain, so that no cell reads the future.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class ConvWindow:
    """Zero padding of the map before a 'valid' k×k convolution: fixes what a cell reads.

    Output cell (i, j) reads rows i−top..i+bottom and columns j−left..j+right.
    """

    top: int
    bottom: int
    left: int
    right: int

    @classmethod
    def for_chain(cls, chain: str, kernel_size: int) -> ConvWindow:
        """The window of the ``encoder`` (centred), ``decoder`` (causal) or ``cross`` chain."""
        half, back = kernel_size // 2, kernel_size - 1
        if chain == "encoder":
            return cls(top=half, bottom=half, left=half, right=half)
        if chain == "decoder":
            return cls(top=back, bottom=0, left=back, right=0)
        if chain == "cross":
            return cls(top=back, bottom=0, left=half, right=half)
        raise ValueError(f"unknown attention chain {chain!r}")

    @property
    def is_row_causal(self) -> bool:
        """True when a cell reads no row below its own (the map can grow row by row)."""
        return self.bottom == 0


def mix_with_previous(
    logits: Tensor, previous: Tensor, zero_mask: Tensor | None, alpha: float
) -> Tensor:
    """M = α·previous + (1−α)·logits, with the cells of ``zero_mask`` set to zero."""
    if alpha:
        mixed = torch.lerp(logits, previous, alpha)
        return mixed if zero_mask is None else mixed.masked_fill_(zero_mask, 0.0)
    return logits if zero_mask is None else logits.masked_fill(zero_mask, 0.0)


def convolve_map(mixed: Tensor, conv: nn.Conv2d, window: ConvWindow) -> Tensor:
    """Conv(M) over the whole map, as if padded with zeros according to ``window``.

    The convolution pads symmetrically (no padded copy of the map is made) and the
    outputs whose inputs match ``window`` are kept.
    """
    rows, cols = max(window.top, window.bottom), max(window.left, window.right)
    # With heads as channels there are few of them: oneDNN's channels-last kernels are
    # several times faster here, its backward above all, than the default layout's.
    channels_last = mixed.contiguous(memory_format=torch.channels_last)
    out = F.conv2d(channels_last, conv.weight, conv.bias, padding=(rows, cols))
    first_row, first_col = rows - window.top, cols - window.left
    return out[..., first_row : first_row + mixed.size(-2), first_col : first_col + mixed.size(-1)]


def convolve_new_rows(
    history: Tensor, new_rows: Tensor, conv: nn.Conv2d, window: ConvWindow
) -> Tensor:
    """Conv(M) for the last rows of a row-causal map, from the rows kept before them.

    ``history`` holds the previous ``top`` rows of M (zeros above the first row),
    ``new_rows`` the rows just computed; both span the same key columns.
    """
    stacked = torch.cat([history, new_rows], dim=2)
    padded = F.pad(stacked, (window.left, window.right, 0, 0))
    return F.conv2d(padded, conv.weight, conv.bias)


def combine(mixed: Tensor, convolved: Tensor, beta: float) -> Tensor:
    """A = β·ReLU(Conv(M)) + (1−β)·M."""
    return torch.lerp(mixed, F.relu(convolved), beta)
