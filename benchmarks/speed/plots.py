"""The figures: training ratios against sentence length, step time against position."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.common import pyplot, save_figure
from benchmarks.speed.settings import Results


def plot_training(results: Results, out: Path) -> None:
    """Throughput and memory ratios against sentence length, one line per preset.

    Dashed red lines: issue #4's bounds (throughput 0.9 at iwslt/64, 0.75 at iwslt/256;
    memory 1.5).
    """
    plt = pyplot()
    figure, (speed, memory) = plt.subplots(1, 2, figsize=(10, 4))
    panels = ((speed, "training", "training throughput EA/vanilla", (0.9, 0.75)),
              (memory, "memory", "peak training memory EA/vanilla", (1.5,)))
    for axis, key, label, bounds in panels:
        rows = results.get(key, [])
        for preset in dict.fromkeys(r["preset"] for r in rows):
            mine = [r for r in rows if r["preset"] == preset]
            axis.plot([r["length"] for r in mine], [r["ratio"] for r in mine], "o-", label=preset)
        axis.axhline(1.0, color="grey", linewidth=0.8)
        for bound in bounds:
            axis.axhline(bound, color="red", linestyle="--", linewidth=0.8)
        lengths = sorted({r["length"] for r in rows})
        axis.set_xscale("log", base=2)
        axis.set_xticks(lengths, labels=[str(n) for n in lengths], minor=False)
        axis.minorticks_off()
        axis.set(xlabel="sentence length (tokens)", ylabel=label)
        axis.legend()
    save_figure(figure, out / "training_ratios.png", dpi=120)


def plot_steps(steps: Results, out: Path) -> None:
    """Step time against target position, with the fitted lines."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    x = np.arange(1, len(steps["ea_ms"]) + 1)
    for name, color in (("ea", "C0"), ("vanilla", "C1")):
        fit = steps[f"{name}_fit"]
        axis.plot(x, steps[f"{name}_ms"], ".", color=color, markersize=3,
                  label=f"{'EA' if name == 'ea' else 'vanilla'} (R² {fit['r2']:.3f})")
        axis.plot(x, fit["intercept_ms"] + fit["slope_ms_per_position"] * x, color=color)
    axis.set(xlabel="target position", ylabel="ms per decoding step",
             title=f"{steps['preset']}, {steps['rows']} rows")
    axis.legend()
    save_figure(figure, out / "step_time.png", dpi=120)
