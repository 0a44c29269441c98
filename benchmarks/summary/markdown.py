"""summary.md: one table of the settings, then each seed's figures."""

from __future__ import annotations

from typing import Any

from benchmarks.common import markdown_table
from benchmarks.summary.compute import SIGNIFICANT, table_rows
from benchmarks.summary.sources import METRICS

LABELS = {"bleu": "BLEU", "chrf": "chrF"}


def markdown(summary: dict[str, Any], plotted: bool) -> str:
    """The Markdown summary."""
    settings = summary["settings"]
    rows = table_rows(summary)
    level = f"{summary['level'] * 100:g}%"
    parts = [
        "# EA vs vanilla: test-set differences per setting\n",
        f"- command: `{summary['command']}`; date {summary['date']}",
        f"- Δ = EA − vanilla (sacreBLEU corpus BLEU and chrF on the test set), the mean over "
        f"seeds; each seed's Δ with its paired bootstrap p-value (`ea-mt score --baseline`, "
        f"sacreBLEU's, 1000 resamples); {level} interval: paired bootstrap over sentences, "
        f"{summary['resamples']} resamples (seed {summary['seed']}), the same sentence draw "
        "for every seed of a setting, the mean Δ over seeds in each resample; percentile "
        "interval." + (" All settings: the mean over every seed of every setting, each "
                       "setting's test set resampled on its own (draw seed + its index)."
                       if summary["all"] else ""),
        "",
        "## Settings\n",
        markdown_table(
            ["setting", "seeds", *(f"mean Δ{LABELS[m]} [{level} CI]" for m in METRICS),
             *(f"Δ{LABELS[m]} per seed (p)" for m in METRICS), "EA wins?"],
            [setting_row(s) for s in rows]),
        "",
        f"Per seed, \\* marks p < {SIGNIFICANT}.",
    ]
    notes = [f"- {s['name']}: {s['interval_missing']}." for s in rows
             if s["interval_missing"]]
    if notes:
        parts += ["", "Intervals not computed:", "", *notes]
    no_win = [f"{s['name']} ({LABELS[m]})" for s in rows for m in METRICS
              if s[m]["interval"] and s[m]["interval"]["low"] <= 0]
    if no_win:
        parts += ["", "**EA does not win** (its interval contains 0 or lies below it): "
                  + "; ".join(no_win) + "."]
    undecided = [s["name"] for s in rows if any(s[m]["interval"] is None for m in METRICS)]
    if undecided:
        parts += ["", "No verdict without an interval: " + "; ".join(undecided) + "."]
    if plotted:
        parts += ["", "![ΔBLEU per setting, with its interval](delta_bleu.png)"]
    parts += ["", "## Seeds\n", seeds_table(settings), ""]
    return "\n".join(parts)


def setting_row(setting: dict[str, Any]) -> list[object]:
    """A setting (or all of them, in bold): seeds, mean differences with intervals, each
    seed's, the verdict."""
    name = f"**{setting['name']}**" if "settings" in setting else setting["name"]
    return [name, len(setting["seeds"]),
            *(mean_cell(setting[m]) for m in METRICS),
            *(", ".join(seed_cell(s[m]) for s in setting["per_seed"]) for m in METRICS),
            "; ".join(f"{LABELS[m]}: {setting[m]['verdict']}" for m in METRICS)]


def mean_cell(figures: dict[str, Any]) -> str:
    """``+1.23 [+0.40, +2.10]``, or the mean alone without an interval."""
    if figures["mean_delta"] is None:
        return "–"
    interval = figures["interval"]
    text = f"{figures['mean_delta']:+.2f}"
    return text + (f" [{interval['low']:+.2f}, {interval['high']:+.2f}]" if interval
                   else " (no interval)")


def seed_cell(figures: dict[str, Any]) -> str:
    """``+2.20 (0.001*)``."""
    p_value = figures["p_value"]
    if p_value is None:
        return f"{figures['delta']:+.2f} (p –)"
    star = "*" if p_value < SIGNIFICANT else ""
    return f"{figures['delta']:+.2f} ({p_value:.3f}{star})"


def seeds_table(settings: list[dict[str, Any]]) -> str:
    """Each seed of each setting: runs, scores, difference, p-value and own interval."""
    rows = []
    for setting in settings:
        for entry in setting["per_seed"]:
            row: list[object] = [setting["name"], entry["seed"], entry["ea"], entry["vanilla"],
                                 entry["translations"]]
            for metric in METRICS:
                figures = entry[metric]
                interval = figures["interval"]
                row += [f"{figures['ea']:.2f}", f"{figures['vanilla']:.2f}",
                        seed_cell(figures),
                        f"[{interval['low']:+.2f}, {interval['high']:+.2f}]" if interval
                        else "–"]
            rows.append(row)
    return markdown_table(
        ["setting", "seed", "EA run", "vanilla run", "translations",
         *(f"{h}" for m in METRICS for h in (f"EA {LABELS[m]}", f"vanilla {LABELS[m]}",
                                             f"Δ{LABELS[m]} (p)", "CI"))], rows)
