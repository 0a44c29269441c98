"""``benchmarks.quality``: the sweep's points and the convergence figures of its report."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from benchmarks import quality

VALID = ('2026-12-01 06:10:00 | INFO | valid | {{"epoch": {epoch}, "valid_loss": "5.1", '
         '"valid_bleu": "{bleu}", "valid_num_updates": "{updates}", '
         '"valid_best_bleu": "{best}"}}\n')
TRAIN = ('2026-12-01 06:09:00 | INFO | train_inner | {"epoch": 1, "num_updates": "100", '
         '"loss": "6.0"}\n')


def write_log(path: Path, curve: list[tuple[int, float]]) -> Path:
    """A fairseq log with training lines and one validation line per curve point."""
    lines, best = [TRAIN], 0.0
    for epoch, (updates, bleu) in enumerate(curve, start=1):
        best = max(best, bleu)
        lines.append(VALID.format(epoch=epoch, bleu=bleu, updates=updates, best=best))
    path.write_text("".join(lines), encoding="utf-8")
    return path


def profile(*grids: dict[str, tuple[float, ...]]) -> quality.Profile:
    return quality.Profile(name="t", arch_pair=("ea_transformer_tiny", "transformer_tiny"),
                           model_args=(), train_args=(), max_update=10, vocab_size=10,
                           seeds=(1,), variants=("ea",), sweep=grids)


def test_repeated_sweeps_join_their_points_once() -> None:
    grids = profile({"alpha": (0.3, 0.5, 0.7)}, {"beta": (0.0, 0.5, 0.7)})
    points = quality.sweep_grid(grids)
    default = (quality.DEFAULT_ALPHA, quality.DEFAULT_BETA)
    assert sorted(points) == sorted({(0.3, 0.5), (0.7, 0.5), (0.5, 0.0), (0.5, 0.7),
                                     default})
    names = [run.name for run in quality.plan_runs(grids)]
    assert len(names) == len(set(names)) == 5  # the default point is the EA run, once
    assert "ea-s1" in names and "sweep-a0.5-b0.7-s1" in names


def test_sweep_options_are_appended() -> None:
    args = quality.parse_args(["--src", "en", "--tgt", "de", "--train", "a", "--valid", "b",
                               "--test", "c", "--sweep", "alpha=0.3", "beta=0.3",
                               "--sweep", "beta=0.7", "--patience", "3"])
    changed = quality.profile_from(args)
    assert changed.sweep == ({"alpha": (0.3,), "beta": (0.3,)}, {"beta": (0.7,)})
    assert changed.patience == 3
    assert sorted(quality.sweep_grid(changed)) == [(0.3, 0.3), (0.5, 0.7)]


def test_patience_is_a_training_option_of_every_run() -> None:
    settings = quality.settings_from(quality.parse_args(
        ["--src", "en", "--tgt", "de", "--train", "a/t", "--valid", "a/v", "--test", "a/x",
         "--patience", "4"]), [])
    run = quality.variant_run("vanilla", 1, settings.profile)
    args = quality.train_args(run, settings)
    assert args[args.index("--patience") + 1] == "4"
    assert args.index("--patience") < args.index("--")  # an ea-mt option, not fairseq's


def test_a_run_trained_at_other_default_weights_is_not_reused() -> None:
    settings = quality.settings_from(quality.parse_args(
        ["--src", "en", "--tgt", "de", "--train", "a/t", "--valid", "a/v", "--test", "a/x"]), [])
    run = quality.variant_run("ea", 1, settings.profile)
    args = quality.train_args(run, settings)
    record = {"run": asdict(replace(run, alpha=0.7)), "train_args": args,
              "max_update": settings.profile.max_update}
    assert quality.trained_as({**record, "run": asdict(run)}, run, args)
    assert not quality.trained_as(record, run, args)
    with pytest.raises(SystemExit, match="trained with other options"):
        quality.train(run, settings, record, [])


@pytest.mark.parametrize("bad", ["0", "-2"])
def test_patience_must_be_positive(bad: str) -> None:
    args = quality.parse_args(["--src", "en", "--tgt", "de", "--train", "a", "--valid", "b",
                               "--test", "c", "--patience", bad])
    with pytest.raises(SystemExit, match="--patience must be positive"):
        quality.profile_from(args)


def test_convergence_of_a_run_stopped_on_patience(tmp_path: Path) -> None:
    curve = [(500, 20.0), (1000, 30.5), (1500, 31.0), (2000, 30.8), (2500, 30.9),
             (3000, 30.7)]
    log = write_log(tmp_path / "train.log", curve)
    ended = quality.convergence(log, max_update=6000)
    assert ended["curve"] == curve
    assert ended["stopped"] == "patience"
    assert ended["best_at"] == 1500
    # best over the whole run minus best up to update 2000: no gain in the last 1000
    assert ended["gain"] == pytest.approx(0.0)


def test_convergence_of_a_run_at_the_cap(tmp_path: Path) -> None:
    curve = [(500, 20.0), (1000, 25.0), (1500, 27.5), (2000, 28.25)]
    log = write_log(tmp_path / "train.log", curve)
    ended = quality.convergence(log, max_update=2000)
    assert ended["stopped"] == "max-update"
    assert ended["best_at"] == 2000
    assert ended["gain"] == pytest.approx(28.25 - 25.0)
    assert quality.convergence(log, max_update=2000, window=5000)["gain"] is None


def test_a_resumed_log_counts_each_validation_once(tmp_path: Path) -> None:
    log = write_log(tmp_path / "train.log", [(500, 20.0), (1000, 25.0)])
    with log.open("a", encoding="utf-8") as more:  # the resumed segment repeats update 1000
        more.write(VALID.format(epoch=4, bleu=25.0, updates=1000, best=25.0))
        more.write(VALID.format(epoch=5, bleu=26.0, updates=1500, best=26.0))
    assert quality.validation_curve(log) == [(500, 20.0), (1000, 25.0), (1500, 26.0)]


def test_report_shows_how_each_run_converged(tmp_path: Path) -> None:
    runs = []
    for variant, curve in (("ea", [(500, 20.0), (1000, 30.0), (1500, 30.5), (2000, 30.4)]),
                           ("vanilla", [(500, 15.0), (1000, 26.0), (1500, 28.0),
                                        (2000, 29.0)])):
        log = write_log(tmp_path / f"{variant}.log", curve)
        runs.append({"run": {"name": f"{variant}-s1", "variant": variant, "seed": 1},
                     "updates": 2000, "convergence": quality.convergence(log, 2000)})
    text = quality.convergence_table(runs)
    assert "| ea-s1 | 2000 | max-update | 1500 | +0.50 |" in text
    assert "| vanilla-s1 | 2000 | max-update | 2000 | +3.00 |" in text
    assert "| 1000 | 30.00 | 26.00 |" in text
    json.dumps(runs)  # the report's JSON holds the curves
    assert quality.plot_valid_curves(runs, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0


def sweep_point(alpha: float, beta: float, bleu: float) -> dict[str, Any]:
    return {"alpha": alpha, "beta": beta, "valid_bleu": bleu, "valid_bleu_per_seed": [bleu]}


def test_the_sweep_runs_at_every_seed_and_averages_each_point() -> None:
    swept = replace(profile({"beta": (0.7,)}), seeds=(1, 2))
    runs = quality.plan_runs(swept)
    assert [run.name for run in runs] == ["ea-s1", "ea-s2", "sweep-a0.5-b0.7-s1",
                                          "sweep-a0.5-b0.7-s2"]
    valid = {"ea-s1": 37.8, "ea-s2": 37.4, "sweep-a0.5-b0.7-s1": 38.2, "sweep-a0.5-b0.7-s2": 37.6}
    records = {name: {"scores": {"valid": {"bleu": bleu, "chrf": 60.0}},
                      "best_valid_bleu": bleu} for name, bleu in valid.items()}
    sweep = quality.sweep_summary(swept, runs, records)
    best, default = sweep["best"], sweep["default"]
    assert (best["beta"], best["seeds"]) == (0.7, [1, 2])
    assert best["valid_bleu"] == pytest.approx(37.9)
    assert default["valid_bleu"] == pytest.approx(37.6)
    assert sweep["seed_spread"] == pytest.approx(0.4)
    assert "| α = 0.5 | 37.60 (37.80, 37.40) | 37.90 (38.20, 37.60) |" in quality.sweep_table(
        sweep)
    assert "+0.30 over the defaults" in quality.sweep_advice(sweep)
    assert "within the seed-to-seed spread of the defaults (0.40)" in quality.sweep_advice(sweep)


@pytest.mark.parametrize(("spread", "says"), [
    (None, "no seed-to-seed spread"),
    (0.5, "+0.33 over the defaults α = 0.5, β = 0.5 (37.84), within the seed-to-seed "
          "spread of the defaults (0.50)."),
    (0.2, "more than the seed-to-seed spread of the defaults (0.20)."),
])
def test_sweep_advice_weighs_the_gain_against_the_seed_spread(
    spread: float | None, says: str
) -> None:
    default = sweep_point(0.5, 0.5, 37.84)
    best = sweep_point(0.5, 0.7, 38.17)
    sweep = {"points": [default, best], "best": best, "default": default,
             "seed_spread": spread}
    advice = quality.sweep_advice(sweep)
    assert advice.startswith("Best point: α = 0.5, β = 0.7 (valid BLEU 38.17)")
    assert says in advice
    assert "| α = 0.5 | 37.84 | 38.17 |" in quality.sweep_table(sweep)


def test_sweep_advice_when_the_defaults_are_best() -> None:
    default = sweep_point(0.5, 0.5, 38.0)
    sweep = {"points": [default, sweep_point(0.3, 0.5, 37.0)], "best": default,
             "default": default, "seed_spread": 0.3}
    assert quality.sweep_advice(sweep) == "Best point: α = 0.5, β = 0.5 (valid BLEU 38.00)."


def test_report_keeps_every_evaluated_runs_translations_and_its_references(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks.quality.report import keep_hypotheses, reference

    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    ref = work / "test.de"
    ref.write_text("a b\nc d\n", encoding="utf-8")
    runs = []
    for name, splits in (("ea-s1", ("valid", "test")), ("sweep-a0.3-b0.5-s1", ("valid",))):
        scores = {}
        for split in splits:
            hyp = work / f"{name}.{split}.out"
            hyp.write_text(f"{name} {split}\n", encoding="utf-8")
            scores[split] = {"hyp": str(hyp), "bleu": 1.0}
        runs.append({"run": {"name": name}, "scores": scores})
    runs.append({"run": {"name": "vanilla-s1"},
                 "scores": {"test": {"hyp": str(work / "gone.hyp"), "bleu": 1.0}}})
    report = {"runs": runs}
    keep_hypotheses(report, out)
    assert sorted(p.name for p in (out / "hyps").iterdir()) == [
        "ea-s1.test.hyp", "ea-s1.valid.hyp", "sweep-a0.3-b0.5-s1.valid.hyp"]
    kept = runs[0]["scores"]["test"]["kept_hyp"]
    assert kept == "hyps/ea-s1.test.hyp"
    assert (out / kept).read_text(encoding="utf-8") == "ea-s1 test\n"
    assert "kept_hyp" not in runs[2]["scores"]["test"]  # a file that is gone is said so
    assert "gone.hyp is gone" in capsys.readouterr().err

    recorded = reference(ref)
    assert recorded["lines"] == 2 and recorded["absolute"] == str(ref.resolve())
    assert len(recorded["sha256"]) == 64
    assert recorded["path"] == str(ref.resolve())  # far from the repository: absolute
    monkeypatch.setattr("benchmarks.quality.report.REPO", work / "repo")
    assert reference(ref)["path"] == "../test.de"  # beside it: relative, as ../shared/data


DATA = ["--src", "en", "--tgt", "de", "--train", "a/t", "--valid", "a/v", "--test", "a/x"]


def upgrade_settings(tmp_path: Path, *more: str) -> quality.Settings:
    best = tmp_path / "work" / "models" / "vanilla-s1" / "checkpoint_best.pt"
    best.parent.mkdir(parents=True, exist_ok=True)
    best.write_bytes(b"")
    argv = [*DATA, "--workdir", str(tmp_path / "work"), *more]
    return quality.settings_from(quality.parse_args(argv), argv)


def test_upgrade_trains_vanilla_on_and_ea_warm_started_from_the_checkpoint(
    tmp_path: Path,
) -> None:
    settings = upgrade_settings(tmp_path, "--upgrade-from", "--ramp-updates", "400",
                                "--max-update", "3000", "--patience", "3")
    start = tmp_path / "work" / "models" / "vanilla-s1" / "checkpoint_best.pt"
    assert settings.upgrade == quality.Upgrade(start.resolve(), 400)
    assert settings.profile.seeds == (1,) and settings.out.name == "quality-a-upgrade"
    runs = quality.plan_upgrade(settings.profile, settings.upgrade)
    assert [(r.name, r.arch) for r in runs] == [
        ("continued-s1", "transformer_tiny"), ("warm-ea-s1", "ea_transformer_tiny"),
        ("warm-ea-ramp400-s1", "ea_transformer_tiny")]
    for run in runs:
        args = quality.train_args(run, settings)
        raw = args[args.index("--"):]
        assert raw[-2:] == ["--finetune-from-model", str(start.resolve())]
    ramp = quality.train_args(runs[2], settings)
    assert ramp[ramp.index("--ea-ramp-updates") + 1] == "400"
    assert ramp.index("--ea-ramp-updates") < ramp.index("--")  # an ea-mt train option
    plain = quality.variant_run("vanilla", 1, settings.profile)
    assert "--finetune-from-model" not in quality.train_args(plain, settings)

    by_path = upgrade_settings(tmp_path, "--upgrade-from", str(start))
    assert by_path.upgrade == quality.Upgrade(start.resolve(), None)
    assert len(quality.plan_upgrade(by_path.profile, by_path.upgrade)) == 2


@pytest.mark.parametrize(("more", "message"), [
    (["--upgrade-from", "vanilla-s9"], "no checkpoint"),
    (["--ramp-updates", "100"], "needs --upgrade-from"),
    (["--upgrade-from", "--ramp-updates", "0"], "needs --upgrade-from and a positive N"),
    (["--upgrade-from", "--variants", "ea"], "do not apply to --upgrade-from"),
    (["--quick", "--profile", "tatoeba"], "--quick is --profile quick"),
])
def test_upgrade_and_profile_errors(tmp_path: Path, more: list[str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        upgrade_settings(tmp_path, *more)


def test_tatoeba_profile_has_its_own_budget_workdir_and_report() -> None:
    argv = [*DATA, "--profile", "tatoeba", "--name", "tatoeba-en-de"]
    settings = quality.settings_from(quality.parse_args(argv), argv)
    profile = settings.profile
    assert profile.name == "tatoeba" and profile.patience == 3 and profile.max_update == 40000
    options = dict(zip(profile.train_args[::2], profile.train_args[1::2], strict=True))
    assert options["--save-interval-updates"] == "1000"
    assert profile.model_args == quality.MULTI30K.model_args
    assert settings.workdir.name == "tatoeba-en-de.en-de-tatoeba"
    assert settings.out.name == "quality-tatoeba-en-de-tatoeba"
    default = quality.settings_from(quality.parse_args(DATA), DATA)
    assert default.profile == quality.MULTI30K and default.out.name == "quality-a"


def test_upgrade_table_weighs_each_run_against_the_start_and_vanilla_continued() -> None:
    def pair(run: str, against: str, bleu: float, base: float, p: float) -> dict[str, Any]:
        return {"run": run, "against": against, "scores": [
            {"metric": name, "score": bleu, "significance": {"baseline_score": base,
                                                              "p_value": p}}
            for name in ("BLEU", "chrF2")]}

    runs = [{"run": {"name": name}, "updates": updates,
             "convergence": {"stopped": "patience"},
             "scores": {"test": {"bleu": bleu, "chrf": bleu + 20}}}
            for name, updates, bleu in (("continued-s1", 2500, 37.0), ("warm-ea-s1", 3000, 38.5))]
    upgrade = {"start": {"checkpoint": "/w/vanilla-s1/checkpoint_best.pt",
                         "scores": {"test": {"bleu": 36.5, "chrf": 56.5}}},
               "pairs": [pair("continued-s1", "start", 37.0, 36.5, 0.2),
                         pair("warm-ea-s1", "start", 38.5, 36.5, 0.001),
                         pair("warm-ea-s1", "continued-s1", 38.5, 37.0, 0.01)],
               "ramp_updates": None}
    text = quality.upgrade_table(upgrade, runs)
    assert "| start | – | – | 36.50 | 56.50 |  |  |  |  |" in text
    assert "| continued-s1 | 2500 | patience | 37.00 | 57.00 | +0.50 (0.200) | +0.50 (0.200) " \
           "| – | – |" in text
    assert "| warm-ea-s1 | 3000 | patience | 38.50 | 58.50 | +2.00 (0.001) | +2.00 (0.001) " \
           "| +1.50 (0.010) | +1.50 (0.010) |" in text


def test_a_report_folder_of_another_direction_is_refused_before_training(
    tmp_path: Path,
) -> None:
    from benchmarks.quality.report import check_out

    out = tmp_path / "quality-multi30k"
    out.mkdir()
    (out / "report.json").write_text(json.dumps(
        {"data": {"name": "multi30k", "src": "en", "tgt": "de"}}), encoding="utf-8")
    for src, tgt, upgrade, refused in (("de", "en", [], True), ("en", "de", [], False),
                                       ("en", "de", ["--upgrade-from"], True)):
        argv = ["--src", src, "--tgt", tgt, "--train", "multi30k/train", "--valid",
                "multi30k/valid", "--test", "multi30k/test", "--out", str(out), *upgrade]
        if upgrade:
            best = tmp_path / "w" / "models" / "vanilla-s1" / "checkpoint_best.pt"
            best.parent.mkdir(parents=True, exist_ok=True)
            best.write_bytes(b"")
            argv += ["--workdir", str(tmp_path / "w")]
        settings = quality.settings_from(quality.parse_args(argv), argv)
        if refused:
            with pytest.raises(SystemExit, match="holds the report of multi30k en→de"):
                check_out(settings)
        else:
            check_out(settings)
