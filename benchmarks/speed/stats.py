"""The figures made of the timings: speed ratios, line fits of the step times and issue #4's
targets."""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from benchmarks.speed.settings import Results

STEP_RATIO_AT = (32, 128, 256)
STEP_RATIO_WINDOW = 8  # positions averaged (median) for a ratio "at" a position


def speed_ratios(ea_seconds: list[float], vanilla_seconds: list[float]) -> dict[str, float]:
    """EA's speed relative to vanilla's, per paired step: median, min and max."""
    ratios = [v / e for e, v in zip(ea_seconds, vanilla_seconds, strict=True)]
    return {"ratio": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios)}


def fit_line(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Least-squares line y = a + b·x, with R²."""
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + slope * x)
    r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    return {"slope_ms_per_position": float(slope), "intercept_ms": float(intercept), "r2": r2}


def step_fit(ms: list[float]) -> dict[str, float]:
    """Line through positions 2.., and the slopes of each half (equal when linear).

    Position 1 is left out: its step also projects the encoder output into every
    cross-attention's keys and values.
    """
    y = np.asarray(ms[1:])
    x = np.arange(2, len(ms) + 1, dtype=float)
    half = len(y) // 2
    return {
        **fit_line(x, y),
        "slope_first_half": fit_line(x[:half], y[:half])["slope_ms_per_position"],
        "slope_second_half": fit_line(x[half:], y[half:])["slope_ms_per_position"],
    }


def step_ratios_at(ea_ms: list[float], vanilla_ms: list[float]) -> list[Results]:
    """Speed ratio around positions 32/128/256: medians of the STEP_RATIO_WINDOW steps up to it."""
    rows = []
    for position in (p for p in STEP_RATIO_AT if p <= len(ea_ms)):
        window = slice(max(0, position - STEP_RATIO_WINDOW), position)
        ea, vanilla = statistics.median(ea_ms[window]), statistics.median(vanilla_ms[window])
        rows.append({"position": position, "ea_ms": ea, "vanilla_ms": vanilla,
                     "ratio": vanilla / ea})
    return rows


def find(rows: list[Results], **key: Any) -> Results | None:
    """The first row with all the given key values, or None."""
    return next((r for r in rows if all(r[k] == v for k, v in key.items())), None)


def evaluate_targets(results: Results) -> list[Results]:
    """Issue #4's targets, for the figures this run has."""
    checks = []
    training = results.get("training", [])
    for length, bound in ((64, 0.9), (256, 0.75)):
        row = find(training, preset="iwslt", length=length)
        if row:
            checks.append({"target": f"training throughput iwslt/{length}", "value": row["ratio"],
                           "bound": f"≥ {bound}", "met": row["ratio"] >= bound})
    for row in results.get("decoding", {}).get("rows", []):
        checks.append({"target": f"decoding {row['preset']}", "value": row["ratio"],
                       "bound": "≥ 0.85", "met": row["ratio"] >= 0.85})
    memory = results.get("memory", [])
    if memory:
        worst = max(memory, key=lambda r: r["ratio"])
        checks.append({"target": f"training memory, worst cell "
                                 f"({worst['preset']}/{worst['length']})",
                       "value": worst["ratio"], "bound": "≤ 1.5", "met": worst["ratio"] <= 1.5})
    return checks
