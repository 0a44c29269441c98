"""The report's statistics: test scores over seeds, the paired tests against vanilla and the
α × β sweep's points."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.quality.experiment import MAIN_VARIANTS, METRICS, Profile
from benchmarks.quality.plan import Run
from ea_mt.models.config import DEFAULT_ALPHA, DEFAULT_BETA

SIGNIFICANT = 0.05


def seed_means(runs: list[Run], records: dict[str, dict[str, Any]],
               pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Test scores of EA and vanilla averaged over seeds, and the mean differences."""
    means: dict[str, Any] = {}
    for variant in MAIN_VARIANTS:
        tested = [records[r.name]["scores"]["test"] for r in runs
                  if r.variant == variant and "test" in records[r.name]["scores"]]
        if tested:
            means[variant] = {m: mean_sd([t[m] for t in tested]) for m in METRICS}
    ea_pairs = [p for p in pairs if p["variant"] == "ea"]
    if ea_pairs:
        means["delta"] = {m: mean_sd([delta(p, m) for p in ea_pairs]) for m in METRICS}
        means["significant_wins"] = sum(
            delta(p, "bleu") > 0 and significance(p, "bleu")["p_value"] < SIGNIFICANT
            for p in ea_pairs)
        means["seeds"] = len(ea_pairs)
    return means


def mean_sd(values: list[float]) -> dict[str, float | None]:
    """Mean and sample standard deviation (None for one value)."""
    sd = statistics.stdev(values) if len(values) > 1 else None
    return {"mean": statistics.fmean(values), "sd": sd, "n": len(values)}


def significance(pair: dict[str, Any], metric: str) -> dict[str, Any]:
    """The paired test of one metric from an ``ea-mt score --json`` report."""
    score = next(s for s in pair["scores"] if metric_key(s["metric"]) == metric)
    return {"score": score["score"], **score["significance"]}


def metric_key(name: str) -> str:
    """Our key for a sacreBLEU metric name: BLEU -> bleu, chrF2 -> chrf."""
    return name.lower().rstrip("+0123456789")


def delta(pair: dict[str, Any], metric: str) -> float:
    """System minus baseline score."""
    test = significance(pair, metric)
    return test["score"] - test["baseline_score"]


def sweep_summary(profile: Profile, runs: list[Run],
                  records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Validation scores over the α × β grid, each point averaged over its seeds (the EA
    runs are the default point); ``seed_spread`` is the default point's max − min."""
    if not profile.sweep:
        return {}
    grouped: dict[tuple[float, float], list[Run]] = {}
    for run in runs:
        if run.variant in ("sweep", "ea") and run.alpha is not None and run.beta is not None:
            grouped.setdefault((run.alpha, run.beta), []).append(run)
    points = [sweep_point(point, [(run, records[run.name]) for run in seeded])
              for point, seeded in sorted(grouped.items())]
    default = [p for p in points if (p["alpha"], p["beta"]) == (DEFAULT_ALPHA, DEFAULT_BETA)]
    seeds = default[0]["valid_bleu_per_seed"] if default else []
    return {"points": points, "best": max(points, key=lambda p: p["valid_bleu"]),
            "default": default[0] if default else None,
            "seed_spread": max(seeds) - min(seeds) if len(seeds) > 1 else None}


def sweep_point(point: tuple[float, float],
                seeded: list[tuple[Run, dict[str, Any]]]) -> dict[str, Any]:
    """One grid point: α, β and its validation scores, the mean over its seeds and each."""
    valid = [record["scores"]["valid"] for _, record in seeded]
    return {"alpha": point[0], "beta": point[1], "runs": [run.name for run, _ in seeded],
            "seeds": [run.seed for run, _ in seeded],
            "valid_bleu": statistics.fmean(v["bleu"] for v in valid),
            "valid_bleu_per_seed": [v["bleu"] for v in valid],
            "valid_chrf": statistics.fmean(v["chrf"] for v in valid),
            "best_valid_bleu_training": statistics.fmean(
                record["best_valid_bleu"] for _, record in seeded)}
