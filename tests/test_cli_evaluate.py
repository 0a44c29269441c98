"""``ea-mt evaluate``: translate + score, with the hypotheses and report next to the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner, Result

from ea_mt.cli.main import app
from ea_mt.decoding.scoring import score_files

if TYPE_CHECKING:
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]
pytestmark = pytest.mark.slow  # needs a trained model


def evaluate(model: TrainedModel, *args: str | Path) -> Result:
    argv = ["evaluate", "-w", str(model.workdir), "--threads", "1", *map(str, args)]
    return CliRunner().invoke(app, argv)


def test_writes_hypotheses_and_report(trained_model: TrainedModel) -> None:
    src, ref = trained_model.raw / "test.en", trained_model.raw / "test.de"
    result = evaluate(trained_model, "--src", src, "--ref", ref, "-m", "bleu", "ter", "--beam", "3")
    assert result.exit_code == 0, result.stderr
    assert "BLEU" in result.stdout and "TER" in result.stdout

    hyp = trained_model.model_dir / "eval" / "test.checkpoint_best.hyp"
    report_path = hyp.with_suffix(".json")
    assert len(hyp.read_text(encoding="utf-8").splitlines()) == 50
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["lines"] == 50 and report["hyp"] == str(hyp.resolve())
    assert report["model"]["checkpoint"].endswith("checkpoint_best.pt")
    assert report["model"]["beam"] == 3 and len(report["model"]["checkpoint_sha256"]) == 64
    assert set(report["timing"]) >= {"load_s", "translate_s", "lines_per_s", "score_s"}
    rescored = score_files(hyp, [ref], ["bleu", "ter"])
    assert [s["score"] for s in report["scores"]] == [s.score for s in rescored.scores]
    assert [s["signature"] for s in report["scores"]] == [s.signature for s in rescored.scores]
    assert str(report_path) in result.stderr


def test_json_output_and_chosen_checkpoint(trained_model: TrainedModel) -> None:
    src, ref = trained_model.raw / "test.en", trained_model.raw / "test.de"
    checkpoint = trained_model.model_dir / "checkpoint_last.pt"
    result = evaluate(
        trained_model, "--src", src, "--ref", ref, "--checkpoint", checkpoint, "--json", "-q"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "ea-mt-eval"
    assert [s["metric"] for s in report["scores"]] == ["BLEU", "chrF2"]
    assert Path(report["hyp"]).name == "test.checkpoint_last.hyp"


def test_reference_mismatch_fails_before_translating(
    trained_model: TrainedModel, tmp_path: Path
) -> None:
    short = tmp_path / "short.de"
    short.write_text("Hallo.\n", encoding="utf-8")
    src = trained_model.raw / "valid.en"
    result = evaluate(trained_model, "--src", src, "--ref", short)
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("line i of each must be the same sentence")
    assert not (trained_model.model_dir / "eval" / "valid.checkpoint_best.hyp").exists()
