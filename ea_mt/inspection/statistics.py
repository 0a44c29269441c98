"""Statistics of attention maps, per head and layer: entropy, Jensen–Shannon divergence
between consecutive layers, and the share of the convolution branch in the evolved map."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ea_mt.inspection.capture import Maps, blocked_cells


def entropy(weights: Tensor, blocked: Tensor) -> Tensor:
    """Per head: the entropy (nats) of each query row's softmax weights, averaged over rows."""
    return torch.special.entr(weights).masked_fill(blocked, 0.0).sum(-1).mean(-1)


def jensen_shannon(p: Tensor, q: Tensor, blocked: Tensor) -> Tensor:
    """Per head: the Jensen–Shannon divergence (nats) of p's and q's rows, averaged over rows."""
    return entropy((p + q) / 2, blocked) - (entropy(p, blocked) + entropy(q, blocked)) / 2


def convolution_share(branch: Tensor, evolved: Tensor, blocked: Tensor) -> Tensor:
    """Per head: ‖β·ReLU(Conv(M))‖_F / ‖A‖_F over the cells queries attend to."""
    def norm(m: Tensor) -> Tensor:
        return m.masked_fill(blocked, 0.0).flatten(1).norm(dim=1)

    return norm(branch) / norm(evolved)


def layer_statistics(chain: str, layers: Sequence[Maps]) -> list[dict[str, Any]]:
    """Entropy, JSD from the previous layer and convolution share, per head and mean, by layer."""
    rows = []
    for index, maps in enumerate(layers):
        weights = maps["weights"]
        blocked = blocked_cells(chain, *weights.shape[-2:])
        jsd = share = None
        if index > 0:
            jsd = jensen_shannon(weights, layers[index - 1]["weights"], blocked)
        if "convolution_branch" in maps:
            share = convolution_share(maps["convolution_branch"], maps["evolved"], blocked)
        rows.append({
            "layer": index,
            "maps": sorted(maps),
            "entropy": _per_head(entropy(weights, blocked)),
            "jsd_from_previous": _per_head(jsd),
            "conv_share": _per_head(share),
        })
    return rows


def _per_head(values: Tensor | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {"heads": values.tolist(), "mean": float(values.mean())}
