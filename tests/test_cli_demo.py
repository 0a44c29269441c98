"""`ea-mt demo`: the whole pipeline, shortened to a few seconds of training."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import ea_mt.cli.main  # noqa: F401  (attaches every command to the app)
from ea_mt.cli.app import app
from ea_mt.demo import bundled_sample

SIZES = {"train": 3000, "valid": 40, "test": 30}  # 3000 pairs fill the 4000-piece vocabulary


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_bundled_sample_is_found_from_the_package() -> None:
    for split in ("train", "valid", "test"):
        for lang in ("en", "de"):
            assert (bundled_sample() / f"{split}.{lang}").is_file()


def test_missing_data_is_one_line(tmp_path: Path) -> None:
    result = invoke("demo", "--data", tmp_path, "-w", tmp_path / "work")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "the demo data is missing" in result.stderr and "--data DIR" in result.stderr
    assert not (tmp_path / "work").exists()


@pytest.mark.slow
def test_demo_runs_every_step_and_prints_the_table(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for split, size in SIZES.items():
        for lang in ("en", "de"):
            with (bundled_sample() / f"{split}.{lang}").open(encoding="utf-8") as f:
                lines = [next(f) for _ in range(size)]
            (data / f"{split}.{lang}").write_text("".join(lines), encoding="utf-8")
    workdir = tmp_path / "demo"

    result = invoke("demo", "--data", data, "-w", workdir, "--minutes", "0.25", "-q")
    assert result.exit_code == 0, result.output
    assert "checkpoint_best.pt" in result.stdout and "chrF" in result.stdout
    assert "sacrebleu nrefs:1" in result.stdout
    hypotheses = (workdir / "test.checkpoint_best.de").read_text(encoding="utf-8")
    assert hypotheses.count("\n") == SIZES["test"]
    assert (workdir / "checkpoints" / "model.json").is_file()
