"""ratios.png: each system's tok/s and p50 latency per configuration, over CTranslate2 fp32's
on the vanilla model (the figures themselves where CTranslate2 did not run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import pyplot, save_figure
from benchmarks.decoding.systems import BASELINE

PANELS = (("tokens_per_s", "target tokens/s"), ("p50_latency_ms", "p50 latency per sentence"))


def plot_ratios(results: dict[str, Any], path: Path) -> bool:
    """Grouped bars, one group per configuration; False when nothing ran."""
    runs = results["runs"]
    colours = {s["key"]: f"C{n}" for n, s in enumerate(results["systems"])}  # fixed per system
    keys = [s["key"] for s in results["systems"] if s["available"]]
    if not runs or not keys or keys == [BASELINE]:
        return False
    labels = {s["key"]: s["label"] for s in results["systems"]}
    relative = BASELINE in keys
    if relative:
        keys.remove(BASELINE)  # the line at 1
    plt = pyplot()
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(max(6.4, 1.3 * len(runs)), 7.5))
    width = 0.8 / len(keys)
    for ax, (metric, title) in zip(axes, PANELS, strict=True):
        base = 1.0 if relative else 0.0  # ratios: bars up or down from 1
        for n, key in enumerate(keys):
            values = [run["systems"][key][metric]
                      / (run["systems"][BASELINE][metric] if relative else 1.0) for run in runs]
            ax.bar([i + (n - (len(keys) - 1) / 2) * width for i in range(len(runs))],
                   [v - base for v in values], width, bottom=base, label=labels[key],
                   color=colours[key])
        if relative:
            ax.set_yscale("log")  # 2x faster and 2x slower equally far from 1
            ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:g}"))
            ax.axhline(1.0, color="grey", linewidth=0.8, label=labels[BASELINE])
            ax.set_ylabel(f"{title}\n× CTranslate2 fp32, vanilla")
        else:
            ax.set_ylabel(title + (" (ms)" if metric == "p50_latency_ms" else ""))
        ax.set_xticks(range(len(runs)),
                      [f"beam {r['beam']}\nbatch {r['batch']}\n{r['threads']} thr" for r in runs])
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2, loc="best")
    save_figure(fig, path, dpi=100)
    return True
