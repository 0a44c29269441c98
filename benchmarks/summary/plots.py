"""delta_bleu.png: ΔBLEU per setting, each seed's and the mean with its interval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import pyplot, save_figure


def plot_delta_bleu(settings: list[dict[str, Any]], path: Path) -> bool:
    """Mean ΔBLEU with its interval (where there is one) and each seed's ΔBLEU, one row
    per setting; a line at 0. False when there is nothing to plot."""
    shown = [s for s in settings if s["per_seed"]]
    if not shown:
        return False
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.6 * len(shown)))
    labelled: set[str] = set()

    def label(text: str) -> str | None:
        """Each legend entry once."""
        first = text not in labelled
        labelled.add(text)
        return text if first else None

    for row, setting in enumerate(reversed(shown)):
        figures = setting["bleu"]
        interval = figures["interval"]
        if interval is not None:
            ax.errorbar(figures["mean_delta"], row, capsize=4, fmt="o", color="C0",
                        xerr=[[figures["mean_delta"] - interval["low"]],
                              [interval["high"] - figures["mean_delta"]]],
                        label=label("mean, 95% CI"))
        else:
            ax.plot(figures["mean_delta"], row, "o", mfc="white", color="C0",
                    label=label("mean (no interval)"))
            ax.annotate("no interval", (figures["mean_delta"], row), xytext=(6, 6),
                        textcoords="offset points", fontsize=7)
        ax.plot([s["bleu"]["delta"] for s in setting["per_seed"]],
                [row] * len(setting["per_seed"]), "x", color="C1",
                label=label("seeds"))
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(range(len(shown)), [s["name"] for s in reversed(shown)])
    ax.set_xlabel("ΔBLEU, EA − vanilla (test)")
    ax.margins(y=0.3)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    save_figure(fig, path, dpi=100)
    return True
