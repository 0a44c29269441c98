"""Corpus scores with sacrebleu, exactly as the ``sacrebleu`` command computes them.

Lines are read as sacrebleu reads them (split at ``\\n``, trailing whitespace removed);
the paired bootstrap test is sacrebleu's own (``sacrebleu -i BASELINE HYP --paired-bs``),
with its fixed seed (``SACREBLEU_SEED``, default 12345).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.metrics.base import Metric

from ea_mt.errors import UserError
from ea_mt.textio import STDIO, input_name, read_lines

METRICS: dict[str, type[Metric]] = {"bleu": BLEU, "chrf": CHRF, "ter": TER}
DEFAULT_METRICS = ("bleu", "chrf")
BOOTSTRAP_SAMPLES = 1000


@dataclass(frozen=True)
class Significance:
    """sacrebleu's paired bootstrap test of the system against a baseline, for one metric."""

    baseline_score: float
    p_value: float
    system_mean: float
    system_ci: float
    baseline_mean: float
    baseline_ci: float
    signature: str  # includes the seed and the number of resamples


@dataclass(frozen=True)
class MetricScore:
    """One metric's corpus score, its sacrebleu signature and verbose line."""

    metric: str
    score: float
    signature: str
    verbose: str
    significance: Significance | None = None


@dataclass(frozen=True)
class ScoreReport:
    """Scores of one hypothesis file against its references."""

    hyp: str
    refs: list[str]
    lines: int
    scores: list[MetricScore]
    baseline: str | None = None
    bootstrap_samples: int | None = None
    bootstrap_seed: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (no None-valued fields)."""
        return _drop_none(asdict(self))


def parse_metrics(names: Sequence[str]) -> list[str]:
    """Metric names from options: repeated and/or comma-separated, case-insensitive."""
    chosen: list[str] = []
    for name in (part.strip().lower() for item in names for part in item.split(",")):
        if name not in METRICS:
            raise UserError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
        if name not in chosen:
            chosen.append(name)
    return chosen or list(DEFAULT_METRICS)


def score_lines(
    hyps: Sequence[str],
    refs: Sequence[Sequence[str]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    baseline: Sequence[str] | None = None,
    bootstrap_samples: int = BOOTSTRAP_SAMPLES,
) -> list[MetricScore]:
    """Score ``hyps`` against each reference stream in ``refs`` (all of equal length).

    With ``baseline`` (another system's lines), add sacrebleu's paired bootstrap test.
    """
    results = []
    for name in parse_metrics(metrics):
        metric = METRICS[name]()
        score = metric.corpus_score(list(hyps), [list(r) for r in refs])
        results.append(
            MetricScore(
                metric=score.name,
                score=score.score,
                signature=str(metric.get_signature()),
                verbose=str(score),
            )
        )
    if baseline is None:
        return results
    tests = _paired_bootstrap(hyps, refs, metrics, baseline, bootstrap_samples)
    return [
        MetricScore(r.metric, r.score, r.signature, r.verbose, tests[r.metric]) for r in results
    ]


def score_files(
    hyp: Path | str | None,
    refs: Sequence[Path | str],
    metrics: Sequence[str] = DEFAULT_METRICS,
    baseline: Path | str | None = None,
    bootstrap_samples: int = BOOTSTRAP_SAMPLES,
) -> ScoreReport:
    """Score a hypothesis file (None or ``-``: stdin) against reference files.

    Every file must be UTF-8 with as many lines as the hypotheses; the hypotheses
    must not be empty.
    """
    if not refs:
        raise UserError("give at least one reference file with --ref")
    hyp_name = STDIO if hyp is None else str(hyp)
    hyp_lines = _read(hyp_name)
    if not hyp_lines:
        raise UserError(f"the hypotheses ({input_name(hyp)}) are empty: nothing to score")
    ref_lines = [_read_matching(str(ref), len(hyp_lines), hyp_name) for ref in refs]
    baseline_lines = None
    if baseline is not None:
        baseline_lines = _read_matching(str(baseline), len(hyp_lines), hyp_name)
    scores = score_lines(hyp_lines, ref_lines, metrics, baseline_lines, bootstrap_samples)
    return ScoreReport(
        hyp=hyp_name,
        refs=[str(r) for r in refs],
        lines=len(hyp_lines),
        scores=scores,
        baseline=None if baseline is None else str(baseline),
        bootstrap_samples=None if baseline is None else bootstrap_samples,
        bootstrap_seed=None if baseline is None else bootstrap_seed(),
    )


def bootstrap_seed() -> str:
    """The seed sacrebleu's paired test uses: ``SACREBLEU_SEED``, default 12345."""
    return os.environ.get("SACREBLEU_SEED", "12345").lower()


def _paired_bootstrap(
    hyps: Sequence[str],
    refs: Sequence[Sequence[str]],
    metrics: Sequence[str],
    baseline: Sequence[str],
    samples: int,
) -> dict[str, Significance]:
    from sacrebleu.significance import PairedTest

    if samples < 1:
        raise UserError(f"--bootstrap-samples must be at least 1, not {samples}")
    logging.getLogger("sacrebleu").setLevel(logging.WARNING)
    named = {name: METRICS[name]() for name in parse_metrics(metrics)}
    test = PairedTest(
        [("baseline", list(baseline)), ("system", list(hyps))],
        named,
        references=[list(r) for r in refs],
        test_type="bs",
        n_samples=samples,
    )
    signatures, results = test()
    tests = {}
    for metric, (base, system) in ((k, v) for k, v in results.items() if k != "System"):
        tests[metric] = Significance(  # sacrebleu mixes numpy and Python floats
            baseline_score=float(base.score),
            p_value=float(system.p_value),
            system_mean=float(system.mean),
            system_ci=float(system.ci),
            baseline_mean=float(base.mean),
            baseline_ci=float(base.ci),
            signature=str(signatures[metric]),
        )
    return tests


def _read(name: str) -> list[str]:
    return [line.rstrip() for line in read_lines(name)]


def _read_matching(name: str, expected: int, hyp_name: str) -> list[str]:
    lines = _read(name)
    if len(lines) != expected:
        raise UserError(
            f"{name} has {len(lines)} lines but the hypotheses ({hyp_name}) have {expected}: "
            "line i of each must be the same sentence"
        )
    return lines


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
