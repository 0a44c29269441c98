"""The paired bootstrap over sentences of EA − vanilla, the seeds of a setting pooled
(and the settings pooled, each test set drawn on its own).

Each resample draws sentence indices with replacement (numpy's ``RandomState`` with a
fixed seed, as sacrebleu's paired test draws them) and applies the same draw to every
seed's EA and vanilla translations; the statistic is the mean over seeds of the corpus
score difference (sacrebleu's BLEU and chrF objects, from per-sentence statistics, as
sacrebleu's own bootstrap computes them). The interval is the percentile interval.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ea_mt.decoding.scoring import METRICS

RESAMPLES = 1000
SEED = 12345
LEVEL = 0.95


@dataclass(frozen=True)
class Translations:
    """One seed's EA and vanilla translations of the same test set."""

    ea: Sequence[str]
    vanilla: Sequence[str]


def resample_counts(sentences: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """How often each sentence is drawn in each resample: (resamples, sentences)."""
    draws = np.random.RandomState(seed).randint(sentences, size=(resamples, sentences))
    counts = np.zeros((resamples, sentences), dtype=np.int64)
    np.add.at(counts, (np.arange(resamples)[:, None], draws), 1)
    return counts


def sentence_statistics(metric: str, hyps: Sequence[str], refs: Sequence[str]) -> np.ndarray:
    """sacrebleu's per-sentence sufficient statistics of ``metric``: (sentences, k).
    (Its warning about tokenised periods would repeat for every system: it is silenced.)"""
    logging.getLogger("sacrebleu").setLevel(logging.ERROR)
    return np.asarray(METRICS[metric]()._extract_corpus_statistics(list(hyps), [list(refs)]))


def resampled_scores(metric: str, hyps: Sequence[str], refs: Sequence[str],
                     counts: np.ndarray) -> np.ndarray:
    """The corpus score of ``hyps`` in every resample of ``counts``."""
    scorer = METRICS[metric]()
    totals = counts @ sentence_statistics(metric, hyps, refs)
    return np.array([scorer._compute_score_from_stats(row).score for row in totals])


def corpus_score(metric: str, hyps: Sequence[str], refs: Sequence[str]) -> float:
    """sacrebleu's corpus score (the same as ``corpus_score``, from the statistics)."""
    totals = sentence_statistics(metric, hyps, refs).sum(axis=0)
    return float(METRICS[metric]()._compute_score_from_stats(totals).score)


def delta_interval(metric: str, seeds: Sequence[Translations], refs: Sequence[str],
                   resamples: int = RESAMPLES, seed: int = SEED,
                   level: float = LEVEL) -> dict[str, float | int]:
    """Mean over ``seeds`` of EA − vanilla and its bootstrap interval at ``level``."""
    return pooled_interval(metric, [(seeds, refs)], resamples, seed, level)


def pooled_interval(metric: str, groups: Sequence[tuple[Sequence[Translations], Sequence[str]]],
                    resamples: int = RESAMPLES, seed: int = SEED,
                    level: float = LEVEL) -> dict[str, float | int]:
    """Mean of EA − vanilla over every seed of ``groups`` (each: seeds translating one test
    set, its references) and its bootstrap interval: each test set resampled on its own
    (draw seed ``seed + i`` for the i-th distinct test set), the seeds of one test set
    jointly, whichever group they are in."""
    resampled, deltas = np.zeros(resamples), []
    test_sets: dict[tuple[str, ...], int] = {}
    for seeds, refs in groups:
        index = test_sets.setdefault(tuple(refs), len(test_sets))
        for pair in seeds:
            if not len(pair.ea) == len(pair.vanilla) == len(refs):
                raise ValueError(f"{len(pair.ea)} EA and {len(pair.vanilla)} vanilla lines "
                                 f"for {len(refs)} references")
        counts = resample_counts(len(refs), resamples, seed + index)
        for pair in seeds:
            resampled += (resampled_scores(metric, pair.ea, refs, counts)
                          - resampled_scores(metric, pair.vanilla, refs, counts))
            deltas.append(corpus_score(metric, pair.ea, refs)
                          - corpus_score(metric, pair.vanilla, refs))
    resampled /= len(deltas)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return {"delta": float(np.mean(deltas)), "low": float(low), "high": float(high),
            "resamples": resamples, "seed": seed, "level": level, "seeds": len(deltas)}
