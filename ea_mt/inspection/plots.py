"""Figures of an :class:`~ea_mt.inspection.sentence.Inspection`: one PNG grid per attention chain.

A grid has one row per layer and, per model, the columns M (before the convolution),
A (evolved) and softmax for evolving chains, softmax only for plain ones.  Axes carry the
SentencePiece pieces; cells no query attends to (the future) are left blank.  Figures are
drawn on matplotlib's Agg canvas directly, without pyplot or a display.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from ea_mt.fileio import atomic_file, write_error
from ea_mt.inspection.capture import CHAINS, Maps, blocked_cells
from ea_mt.inspection.sentence import Inspection, ModelMaps

CHAIN_TITLES = {
    "encoder_self": "encoder self-attention",
    "decoder_self": "decoder self-attention",
    "cross": "encoder-decoder (cross) attention",
}
CELL_INCHES = 0.2
MIN_PANEL_INCHES = 1.6
DPI = 100
MAX_PIXELS = 8000  # long sentences are drawn at a lower resolution


@dataclass(frozen=True)
class Panel:
    """One cell of the grid: a (queries, keys) image, NaN where blocked, and maybe a note."""

    title: str
    image: np.ndarray
    note: str = ""


def chain_panels(model: ModelMaps, chain: str, head: int | None) -> list[list[Panel]]:
    """Rows of panels, one per layer, for ``head`` (None: averaged over heads)."""
    layers = model.chains[chain]
    evolving = any("logits" in maps for maps in layers)
    rows = []
    for maps in layers:
        row = []
        if evolving and "mixed" in maps:
            row += [Panel("M", _view(maps, "mixed", chain, head)),
                    Panel("A", _view(maps, "evolved", chain, head))]
        elif evolving:  # a chain's first layer: softmax of the plain logits
            blank = np.full(maps["weights"].shape[-2:], np.nan)
            row += [Panel("M", blank, note="first layer:\nplain attention"),
                    Panel("L (plain)", _view(maps, "logits", chain, head))]
        row.append(Panel("softmax", _view(maps, "weights", chain, head)))
        rows.append(row)
    return rows


def panel_inches(cells: int) -> float:
    """The width (height) of a panel of ``cells`` keys (queries)."""
    return max(MIN_PANEL_INCHES, CELL_INCHES * cells)


def _view(maps: Maps, name: str, chain: str, head: int | None) -> np.ndarray:
    m: Tensor = maps[name]
    m = m.mean(0) if head is None else m[head]
    return m.masked_fill(blocked_cells(chain, *m.shape), float("nan")).numpy()


def draw_chain(
    inspection: Inspection, chain: str, head: int | None
) -> tuple[Figure, np.ndarray]:
    """The grid of ``chain`` for every model side by side, and its axes (layers × columns)."""
    queries, keys = inspection.tokens.axes(chain)
    blocks = [chain_panels(model, chain, head) for model in inspection.models]
    rows = max(len(block) for block in blocks)
    widths = [max((len(row) for row in block), default=1) for block in blocks]
    panel_w, panel_h = panel_inches(len(keys)), panel_inches(len(queries))
    label_inches = 0.08 * max(len(piece) for piece in queries + keys) + 0.6
    figure = Figure(
        figsize=(sum(widths) * panel_w + label_inches + 0.5, rows * panel_h + label_inches + 0.8),
        layout="constrained",
    )
    axes = figure.subplots(rows, sum(widths), squeeze=False)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    start = 0
    for model, block, width in zip(inspection.models, blocks, widths, strict=True):
        for r in range(rows):
            for c in range(width):
                ax = axes[r, start + c]
                panel = block[r][c] if r < len(block) and c < len(block[r]) else None
                _draw_panel(ax, panel, cmap)
                if r == 0 and panel is not None and len(inspection.models) > 1:
                    ax.set_title(f"{model.label}\n{panel.title}", fontsize=8)
                if start + c == 0:
                    ax.set_yticks(range(len(queries)), queries, fontsize=7)
                    ax.set_ylabel(f"layer {r}", fontsize=9)
                if r == rows - 1:
                    ax.set_xticks(range(len(keys)), keys, fontsize=7, rotation=90)
        start += width
    which = "mean over heads" if head is None else f"head {head}"
    figure.suptitle(f"{CHAIN_TITLES[chain]} ({which})", fontsize=10)
    return figure, axes


def _draw_panel(ax, panel: Panel | None, cmap) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if panel is None:
        ax.set_axis_off()
        return
    ax.set_title(panel.title, fontsize=8)
    image = ax.imshow(panel.image, cmap=cmap, aspect="auto", interpolation="nearest")
    if panel.note:
        ax.text(0.5, 0.5, panel.note, ha="center", va="center", fontsize=7,
                transform=ax.transAxes)
    else:
        colorbar = ax.figure.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
        colorbar.ax.tick_params(labelsize=6)


def write_figures(
    inspection: Inspection, out_dir: Path, head: int | None = None, all_heads: bool = False
) -> list[Path]:
    """Write one PNG per chain (``encoder-self.png``...) or, with ``all_heads``, per chain and
    head (``encoder-self.head0.png``...), each atomically; return the paths."""
    paths = []
    for chain in CHAINS:
        layers = inspection.models[0].chains[chain]
        if not layers:
            continue
        heads: list[int | None] = (
            list(range(layers[0]["weights"].size(0))) if all_heads else [head]
        )
        for h in heads:
            suffix = f".head{h}" if all_heads else ""
            path = out_dir / f"{chain.replace('_', '-')}{suffix}.png"
            figure, _ = draw_chain(inspection, chain, h)
            dpi = min(DPI, MAX_PIXELS / max(figure.get_size_inches()))
            with atomic_file(path) as out:
                try:
                    figure.savefig(out, format="png", dpi=dpi)
                except OSError as error:
                    raise write_error(path, error) from None
            paths.append(path)
    return paths
