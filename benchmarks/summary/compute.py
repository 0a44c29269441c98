"""The summary's figures: per setting, each seed's differences and p-values, their mean,
and the pooled bootstrap interval where every seed's translations are at hand; the same
over all settings."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.summary.bootstrap import (
    RESAMPLES,
    SEED,
    Translations,
    delta_interval,
    pooled_interval,
)
from benchmarks.summary.sources import METRICS, SeedPair, Setting, metric_key, read_text_lines
from ea_mt.decoding.scoring import score_lines

SIGNIFICANT = 0.05
WINS = "yes (interval above 0)"
NO_WIN = "**no**: the interval contains 0"
LOSES = "**no, EA loses**: the interval is below 0"


def summarize(settings: list[Setting], resamples: int = RESAMPLES,
              seed: int = SEED) -> dict[str, Any]:
    """JSON-ready: ``settings``, one summary per setting, and ``all``, the mean over every
    seed of every setting (None with a single setting)."""
    loaded = [[load(pair) for pair in setting.pairs] for setting in settings]
    summaries = [summarize_setting(setting, texts, resamples, seed)
                 for setting, texts in zip(settings, loaded, strict=True)]
    overall = (summarize_all(settings, loaded, summaries, resamples, seed)
               if len(settings) > 1 else None)
    return {"settings": summaries, "all": overall}


def table_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The settings, then ``all settings`` where there is that row."""
    return summary["settings"] + ([summary["all"]] if summary["all"] else [])


Loaded = list[tuple[list[str], list[str], list[str]] | None]


def summarize_setting(setting: Setting, loaded: Loaded, resamples: int,
                      seed: int) -> dict[str, Any]:
    """A setting's seeds, mean differences, interval and verdict for each metric."""
    seeds = [seed_summary(pair, texts, resamples, seed)
             for pair, texts in zip(setting.pairs, loaded, strict=True)]
    result: dict[str, Any] = {"name": setting.name, "seeds": [p.seed for p in setting.pairs],
                              "per_seed": seeds,
                              "interval_missing": interval_missing(setting, loaded)}
    intervals = {metric: None for metric in METRICS}
    if result["interval_missing"] is None and loaded:
        intervals = {metric: delta_interval(metric, *translations(loaded), resamples, seed)
                     for metric in METRICS}
    return result | figures(seeds, intervals)


def summarize_all(settings: list[Setting], loaded: list[Loaded],
                  summaries: list[dict[str, Any]], resamples: int,
                  seed: int) -> dict[str, Any]:
    """Every seed of every setting, each counted once: the mean difference and its
    interval, each setting's test set resampled on its own."""
    seeds = [entry for summary in summaries for entry in summary["per_seed"]]
    missing = [s["name"] for s in summaries if s["interval_missing"]]
    result: dict[str, Any] = {
        "name": "all settings", "seeds": [entry["seed"] for entry in seeds],
        "settings": [s.name for s in settings], "per_seed": seeds,
        "interval_missing": "the interval needs every setting's; none for " + "; ".join(missing)
        if missing else None}
    intervals = {metric: None for metric in METRICS}
    if not missing:
        groups = [translations(texts) for texts in loaded]
        intervals = {metric: pooled_interval(metric, groups, resamples, seed)
                     for metric in METRICS}
    return result | figures(seeds, intervals)


def interval_missing(setting: Setting, loaded: Loaded) -> str | None:
    """Why a setting's pooled interval cannot be computed, or None."""
    missing = [pair for pair, texts in zip(setting.pairs, loaded, strict=True) if texts is None]
    if missing:
        return ("the interval needs the test translations of every seed; not kept for "
                + ", ".join(f"seed {p.seed} ({p.report.folder.name})" for p in missing))
    if len({tuple(texts[2]) for texts in loaded if texts is not None}) > 1:
        return "the seeds were scored on different references"
    return None


def translations(loaded: Loaded) -> tuple[list[Translations], list[str]]:
    """A setting's seeds as ``Translations`` and their (shared) references."""
    present = [texts for texts in loaded if texts is not None]
    return [Translations(ea, vanilla) for ea, vanilla, _ in present], present[0][2]


def figures(seeds: list[dict[str, Any]],
            intervals: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """Per metric: the mean difference over ``seeds``, the interval and the verdict."""
    return {metric: {"mean_delta": statistics.fmean(s[metric]["delta"] for s in seeds)
                     if seeds else None,
                     "interval": intervals[metric],
                     "verdict": verdict(intervals[metric], seeds, metric)}
            for metric in METRICS}


def load(pair: SeedPair) -> tuple[list[str], list[str], list[str]] | None:
    """(EA, vanilla, reference) test lines, or None where any file is gone."""
    ea, vanilla = pair.hypotheses()
    ref = pair.reference()
    if ea is None or vanilla is None or ref is None:
        return None
    return read_text_lines(ea), read_text_lines(vanilla), read_text_lines(ref)


def seed_summary(pair: SeedPair, texts: tuple[list[str], list[str], list[str]] | None,
                 resamples: int, seed: int) -> dict[str, Any]:
    """One seed: both scores, the difference, its p-value and, with the translations,
    its own bootstrap interval."""
    ea_hyp, _ = pair.hypotheses()
    entry: dict[str, Any] = {
        "seed": pair.seed, "ea": pair.ea, "vanilla": pair.vanilla,
        "ea_report": str(pair.report.folder), "vanilla_report": str(pair.vanilla_report.folder),
        "translations": where(ea_hyp, pair.report.folder) if texts else "missing",
    }
    tested = p_values(texts) if texts and any(
        pair.p_value(m) is None for m in METRICS) else {}
    for metric in METRICS:
        ea, vanilla = pair.scores(metric)
        p_value = pair.p_value(metric)
        interval = None
        if texts is not None:
            interval = delta_interval(metric, [Translations(texts[0], texts[1])], texts[2],
                                      resamples, seed)
        entry[metric] = {"ea": ea, "vanilla": vanilla, "delta": ea - vanilla,
                         "p_value": tested.get(metric) if p_value is None else p_value,
                         "interval": interval}
    return entry


def where(path: Path | None, folder: Path) -> str:
    """Whether translations were read from the report's copies or the work directory."""
    return "kept" if path is not None and path.is_relative_to(folder) else "work directory"


def p_values(texts: tuple[list[str], list[str], list[str]]) -> dict[str, float]:
    """sacrebleu's paired bootstrap p-values (``ea-mt score --baseline``'s test)."""
    ea, vanilla, refs = texts
    scores = score_lines(ea, [refs], METRICS, baseline=vanilla)
    return {metric_key(s.metric): s.significance.p_value for s in scores if s.significance}


def verdict(interval: dict[str, Any] | None, seeds: list[dict[str, Any]], metric: str) -> str:
    """Whether EA wins: by the interval where there is one, else by the seeds alone."""
    if interval is not None:
        if interval["low"] > 0:
            return WINS
        return LOSES if interval["high"] < 0 else NO_WIN
    wins = sum(s[metric]["delta"] > 0 and s[metric]["p_value"] is not None
               and s[metric]["p_value"] < SIGNIFICANT for s in seeds)
    return f"no interval; EA significantly better at {wins} of {len(seeds)} seeds"
