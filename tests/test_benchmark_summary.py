"""``benchmarks.summary``: the pooled paired bootstrap of EA − vanilla, and the table over
settings, on small synthetic translations."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from sacrebleu.metrics import BLEU, CHRF

from benchmarks import summary
from benchmarks.quality.report import keep_hypotheses
from benchmarks.summary.__main__ import main

WORDS = [f"w{i}" for i in range(300)]


def corrupt(sentences: list[str], rate: float, rng: random.Random) -> list[str]:
    """Each word replaced by a random one with probability ``rate``."""
    return [" ".join(rng.choice(WORDS) if rng.random() < rate else word
                     for word in sentence.split()) for sentence in sentences]


def sentences(count: int, rng: random.Random) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
            for _ in range(count)]


def bleu(hyps: list[str], refs: list[str]) -> float:
    return BLEU().corpus_score(hyps, [refs]).score


def test_a_constant_difference_gives_that_difference_as_the_whole_interval() -> None:
    """Every sentence of 10 words, vanilla wrong in its last word: every resample has the
    same BLEU, 100·exp(mean log pₙ) with pₙ = (10 − n)/(11 − n), EA's being 100."""
    rng = random.Random(1)
    refs = [" ".join(rng.sample(WORDS, 10)) for _ in range(50)]
    vanilla = [ref.rsplit(" ", 1)[0] + " zz" for ref in refs]
    expected = 100 - 100 * math.exp(sum(math.log((10 - n) / (11 - n)) for n in range(1, 5)) / 4)
    interval = summary.delta_interval("bleu", [summary.Translations(refs, vanilla)], refs,
                                      resamples=200)
    assert interval["delta"] == pytest.approx(expected)
    assert interval["low"] == pytest.approx(expected) and interval["high"] == pytest.approx(
        expected)


def test_the_interval_contains_the_population_difference() -> None:
    """EA replaces 20% of the words, vanilla 30%: the difference on a 30 000-sentence
    population is the true one; two seeds' 400-sentence test sets give an interval
    around it, and their mean difference is sacrebleu's own corpus figure."""
    rng = random.Random(7)
    population = sentences(30000, rng)
    true_bleu = bleu(corrupt(population, 0.2, rng), population) - bleu(
        corrupt(population, 0.3, rng), population)
    refs = sentences(400, rng)
    seeds = [summary.Translations(corrupt(refs, 0.2, rng), corrupt(refs, 0.3, rng))
             for _ in range(2)]
    interval = summary.delta_interval("bleu", seeds, refs)
    assert interval["low"] < true_bleu < interval["high"]
    assert interval["low"] > 0  # a real gain of ~8 BLEU is found
    assert interval["high"] - interval["low"] < 6
    direct = sum(bleu(s.ea, refs) - bleu(s.vanilla, refs) for s in seeds) / 2
    assert interval["delta"] == pytest.approx(direct)
    chrf = summary.delta_interval("chrf", seeds, refs)
    direct_chrf = sum(CHRF().corpus_score(s.ea, [refs]).score
                      - CHRF().corpus_score(s.vanilla, [refs]).score for s in seeds) / 2
    assert chrf["delta"] == pytest.approx(direct_chrf) and chrf["low"] < direct_chrf


def test_seeds_are_resampled_jointly() -> None:
    """Seed 2 swaps seed 1's systems: with the same sentences drawn for both seeds the
    mean difference is 0 in every resample; drawn apart, it would spread."""
    rng = random.Random(3)
    refs = sentences(200, rng)
    a, b = corrupt(refs, 0.1, rng), corrupt(refs, 0.4, rng)
    interval = summary.delta_interval(
        "bleu", [summary.Translations(a, b), summary.Translations(b, a)], refs, resamples=300)
    assert interval["low"] == pytest.approx(0, abs=1e-9)
    assert interval["high"] == pytest.approx(0, abs=1e-9)
    counts = summary.resample_counts(200, 300)
    assert counts.shape == (300, 200) and (counts.sum(axis=1) == 200).all()


def test_settings_pool_with_each_test_set_drawn_on_its_own() -> None:
    """Seed 2 swaps seed 1's systems. In two groups on the same test set the draw is shared
    and the mean difference stays 0 in every resample; on two test sets (the same
    sentences, reordered) the draws are independent and the interval spreads."""
    rng = random.Random(4)
    refs = sentences(200, rng)
    a, b = corrupt(refs, 0.1, rng), corrupt(refs, 0.4, rng)
    forward, backward = [summary.Translations(a, b)], [summary.Translations(b, a)]
    shared = summary.pooled_interval("bleu", [(forward, refs), (backward, refs)], 300)
    assert shared["low"] == pytest.approx(0, abs=1e-9) == shared["high"]
    assert shared["seeds"] == 2
    order = list(reversed(range(200)))
    swapped = [summary.Translations([b[i] for i in order], [a[i] for i in order])]
    apart = summary.pooled_interval(
        "bleu", [(forward, refs), (swapped, [refs[i] for i in order])], 300)
    assert apart["delta"] == pytest.approx(0, abs=1e-9)
    assert apart["low"] < -0.5 and apart["high"] > 0.5
    single = summary.delta_interval("bleu", forward, refs, 300)
    assert single == summary.pooled_interval("bleu", [(forward, refs)], 300)


# --- report folders --------------------------------------------------------------------


def write_report(folder: Path, work: Path, name: str, refs: list[str],
                 systems: dict[int, tuple[list[str], list[str]]], keep: bool = True,
                 p_value: float = 0.001) -> Path:
    """A quality report folder as ``benchmarks.quality`` writes it, for seeds -> (EA,
    vanilla) test translations; without ``keep`` the translations stay in ``work`` only
    and are then deleted, as in an old report whose work directory is gone."""
    folder.mkdir(parents=True)
    work.mkdir(parents=True, exist_ok=True)
    ref_path = work / f"{name}.ref"
    ref_path.write_text("\n".join(refs) + "\n", encoding="utf-8")
    runs, pairs = [], []
    for seed, (ea, vanilla) in systems.items():
        scores = {}
        for variant, hyps in (("ea", ea), ("vanilla", vanilla)):
            hyp = work / f"{name}-{variant}-s{seed}.hyp"
            hyp.write_text("\n".join(hyps) + "\n", encoding="utf-8")
            scores[variant] = {"hyp": str(hyp), "bleu": bleu(hyps, refs),
                               "chrf": CHRF().corpus_score(hyps, [refs]).score}
            runs.append({"run": {"name": f"{variant}-s{seed}", "variant": variant,
                                 "seed": seed}, "scores": {"test": scores[variant]}})
        pairs.append({"run": f"ea-s{seed}", "variant": "ea", "seed": seed,
                      "refs": [str(ref_path)], "scores": [
                          {"metric": metric, "significance": {"p_value": p_value}}
                          for metric in ("BLEU", "chrF2")]})
    report: dict[str, Any] = {
        "data": {"name": name, "src": "en", "tgt": "de"},
        "profile": {"arch_pair": ["ea_transformer_tiny", "transformer_tiny"],
                    "model_args": [], "train_args": [], "max_update": 100, "patience": None},
        "runs": runs, "pairs": pairs,
        "references": {"test": {"path": str(ref_path), "absolute": str(ref_path)}},
    }
    if keep:
        keep_hypotheses(report, folder)
    else:
        for record in runs:
            Path(record["scores"]["test"]["hyp"]).unlink()
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return folder


def test_summary_over_settings_states_where_ea_loses_and_what_is_missing(
    tmp_path: Path,
) -> None:
    rng = random.Random(11)
    refs = sentences(300, rng)
    wins = write_report(tmp_path / "quality-wins", tmp_path / "work", "wins", refs, {
        seed: (corrupt(refs, 0.15, rng), corrupt(refs, 0.3, rng)) for seed in (1, 2)})
    loses = write_report(tmp_path / "quality-loses", tmp_path / "work", "loses", refs, {
        1: (corrupt(refs, 0.35, rng), corrupt(refs, 0.15, rng))}, p_value=0.9)
    old = write_report(tmp_path / "quality-old", tmp_path / "work", "old", refs, {
        1: (corrupt(refs, 0.2, rng), corrupt(refs, 0.3, rng))}, keep=False, p_value=0.02)
    later = write_report(tmp_path / "quality-wins-s3", tmp_path / "work", "wins", refs, {
        3: (corrupt(refs, 0.15, rng), corrupt(refs, 0.3, rng))})
    out = tmp_path / "summary"
    result = main([str(wins), str(loses), str(old), str(later), "--out", str(out),
                   "--resamples", "300"])
    by_name = {s["name"]: s for s in result["settings"]}

    won = by_name["wins en→de"]
    assert won["seeds"] == [1, 2, 3]  # the later seed's report joins its setting
    assert won["bleu"]["interval"]["low"] > 0 and won["bleu"]["verdict"].startswith("yes")
    assert [s["translations"] for s in won["per_seed"]] == ["kept"] * 3

    lost = by_name["loses en→de"]["bleu"]
    assert lost["mean_delta"] < 0 and lost["interval"]["high"] < 0
    assert "EA loses" in lost["verdict"]

    missing = by_name["old en→de"]
    assert missing["bleu"]["interval"] is None
    assert "needs the test translations" in missing["interval_missing"]
    seed = missing["per_seed"][0]["bleu"]
    assert seed["p_value"] == 0.02 and seed["delta"] > 0  # still reported, from the report

    everything = result["all"]  # every seed of every setting, each once
    assert everything["seeds"] == [1, 2, 3, 1, 1]
    deltas = [s["bleu"]["delta"] for name in ("wins en→de", "loses en→de", "old en→de")
              for s in by_name[name]["per_seed"]]
    assert everything["bleu"]["mean_delta"] == pytest.approx(sum(deltas) / 5)
    assert everything["bleu"]["interval"] is None
    assert "old en→de" in everything["interval_missing"]

    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "| **all settings** | 5 |" in text
    assert "**EA does not win**" in text and "loses en→de (BLEU)" in text
    assert "old en→de: the interval needs the test translations" in text
    assert "| wins en→de | 3 |" in text
    assert (out / "delta_bleu.png").stat().st_size > 0
    assert json.loads((out / "summary.json").read_text())["settings"][0]["name"]


def test_a_manifest_names_settings_and_pairs_and_p_values_are_computed(tmp_path: Path) -> None:
    rng = random.Random(5)
    refs = sentences(200, rng)
    write_report(tmp_path / "quality-upgrade", tmp_path / "work", "upgrade", refs, {
        1: (corrupt(refs, 0.1, rng), corrupt(refs, 0.3, rng))})
    manifest = tmp_path / "settings.yaml"
    manifest.write_text("settings:\n  - name: swapped\n    reports: [quality-upgrade]\n"
                        "    pairs:\n      - {ea: vanilla-s1, vanilla: ea-s1}\n"
                        "  - name: as run\n    reports: [quality-upgrade]\n",
                        encoding="utf-8")
    result = main(["--manifest", str(manifest), "--out", str(tmp_path / "out"),
                   "--resamples", "200"])
    setting, as_run = result["settings"]
    assert setting["name"] == "swapped" and setting["bleu"]["interval"]["high"] < 0
    assert as_run["name"] == "as run" and as_run["bleu"]["interval"]["low"] > 0
    pooled = result["all"]["bleu"]["interval"]  # one test set: one draw for both settings
    assert pooled["low"] == pytest.approx(0, abs=1e-9) == pooled["high"]
    p_value = setting["per_seed"][0]["bleu"]["p_value"]  # not in the report: computed
    # sacrebleu's test is two-sided: the "EA" side is significantly different, and worse
    assert p_value is not None and p_value < 0.05
    assert setting["per_seed"][0]["bleu"]["delta"] < 0


def test_a_seed_twice_in_a_setting_is_a_one_line_error(tmp_path: Path) -> None:
    rng = random.Random(2)
    refs = sentences(20, rng)
    first = write_report(tmp_path / "a", tmp_path / "work", "same", refs,
                         {1: (refs, corrupt(refs, 0.3, rng))})
    second = write_report(tmp_path / "b", tmp_path / "work2", "same", refs,
                          {1: (refs, corrupt(refs, 0.3, rng))})
    with pytest.raises(SystemExit, match="seed 1 appears twice"):
        main([str(first), str(second), "--out", str(tmp_path / "out")])
