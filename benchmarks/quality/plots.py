"""The report's figures: test BLEU per seed and the validation curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import pyplot, save_figure
from benchmarks.quality.experiment import MAIN_VARIANTS, UPGRADE_VARIANTS

# Colour of each variant's curve: EA blue, vanilla orange, EA with a ramp green.
COLOURS = {"ea": "C0", "vanilla": "C1", "continued": "C1", "warm-ea": "C0",
           "warm-ea-ramp": "C2"}


def plot_bleu_per_seed(runs: list[dict[str, Any]], path: Path) -> bool:
    """Bars of test BLEU per seed, EA next to vanilla; False when there is nothing to pair."""
    bleu = {(r["run"]["variant"], r["run"]["seed"]): r["scores"]["test"]["bleu"]
            for r in runs if r["run"]["variant"] in MAIN_VARIANTS and "test" in r["scores"]}
    seeds = sorted({seed for _, seed in bleu})
    if not all((v, s) in bleu for v in MAIN_VARIANTS for s in seeds) or not seeds:
        return False
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(seeds), 3.2))
    width = 0.38
    for offset, variant in ((-width / 2, "ea"), (width / 2, "vanilla")):
        xs = [i + offset for i in range(len(seeds))]
        bars = ax.bar(xs, [bleu[variant, s] for s in seeds], width,
                      label="EA" if variant == "ea" else "vanilla")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds])
    ax.set_ylabel("test BLEU")
    ax.margins(y=0.15)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, fontsize=8, frameon=False)
    save_figure(fig, path, dpi=100)
    return True


def plot_valid_curves(runs: list[dict[str, Any]], path: Path) -> bool:
    """Validation BLEU against updates of the EA and vanilla runs (or the upgrade
    experiment's); False if none."""
    main = [r for r in runs if r["run"]["variant"] in (*MAIN_VARIANTS, *UPGRADE_VARIANTS)
            and r["convergence"]["curve"]]
    if not main:
        return False
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for record in main:
        run = record["run"]
        updates, bleu = zip(*record["convergence"]["curve"], strict=True)
        label = {"ea": "EA", "vanilla": "vanilla"}.get(run["variant"], run["variant"])
        ax.plot(updates, bleu, marker=".", color=COLOURS[run["variant"]],
                linestyle=("-", "--", ":", "-.")[(run["seed"] - 1) % 4],
                label=f"{label}, seed {run['seed']}")
    ax.set_xlabel("updates")
    ax.set_ylabel("validation BLEU (beam 4)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=100)
    return True
