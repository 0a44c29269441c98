"""What the figures say: BLEU, identical lines, ratios to CTranslate2, issue 14's targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sacrebleu

from benchmarks.decoding.systems import BASELINE

RATIO_METRICS = ("tokens_per_s", "sentences_per_s", "p50_latency_ms", "peak_mb")


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """sacreBLEU's corpus BLEU (its default 13a tokenisation) of detokenised output."""
    return sacrebleu.corpus_bleu(hypotheses, [references]).score


def identical_share(outputs: list[list[str]], reference: list[list[str]]) -> float:
    """The share of sentences whose best hypothesis has exactly the reference's pieces."""
    return sum(a == b for a, b in zip(outputs, reference, strict=True)) / len(reference)


def ratios(figures: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, float | None]:
    """Each of :data:`RATIO_METRICS` of a system over the baseline system's, None where
    either lacks it."""
    return {
        metric: figures[metric] / baseline[metric]
        if baseline and figures.get(metric) and baseline.get(metric) else None
        for metric in RATIO_METRICS
    }


@dataclass(frozen=True)
class Target:
    """``system``'s ``metric`` over ``against``'s at beam 5 and ``batch``, within ``bound``."""

    text: str
    metric: str
    system: str
    against: str
    batch: int
    bound: float
    at_least: bool  # the ratio must be >= bound (else <= bound)
    beam: int = 5

    def met(self, ratio: float) -> bool:
        return ratio >= self.bound if self.at_least else ratio <= self.bound


TARGETS = (
    Target("EA fast fp32 tok/s ≥ 2.0× fairseq SequenceGenerator on the EA model",
           "tokens_per_s", "fast-ea-fp32", "fairseq-ea-fp32", 64, 2.0, True),
    Target("EA fast fp32 tok/s ≥ 1.0× CTranslate2 fp32 on the vanilla model",
           "tokens_per_s", "fast-ea-fp32", BASELINE, 64, 1.0, True),
    Target("EA fast int8 tok/s ≥ 0.8× CTranslate2 int8 on the vanilla model",
           "tokens_per_s", "fast-ea-int8", "ct2-vanilla-int8", 64, 0.8, True),
    Target("EA fast fp32 p50 latency ≤ 1.0× CTranslate2 fp32's on the vanilla model, batch 1",
           "p50_latency_ms", "fast-ea-fp32", BASELINE, 1, 1.0, False),
)


def evaluate_targets(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target at each thread count measured at its beam and batch: the ratio and
    ``met``/``missed``, or why there is none (``not available``: a system did not run)."""
    rows = []
    for target in TARGETS:
        for run in runs:
            if (run["beam"], run["batch"]) != (target.beam, target.batch):
                continue
            mine, theirs = run["systems"][target.system], run["systems"][target.against]
            row = {"target": target.text, "threads": run["threads"], "bound": target.bound,
                   "at_least": target.at_least, "ratio": None}
            if not (mine["available"] and theirs["available"]):
                row["status"] = "not available"
            else:
                row["ratio"] = mine[target.metric] / theirs[target.metric]
                row["status"] = "met" if target.met(row["ratio"]) else "missed"
            rows.append(row)
        if not any(row["target"] == target.text for row in rows):
            rows.append({"target": target.text, "threads": None, "bound": target.bound,
                         "at_least": target.at_least, "ratio": None,
                         "status": f"not measured (needs beam {target.beam}, batch "
                                   f"{target.batch})"})
    return rows
