"""Session fixtures: tiny trained models laid out as ea-mt work and model directories.

A test module uses them with ``pytest_plugins = ["model_fixture"]``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FairseqTools, PreparedSample

MAX_POSITIONS = 128  # small, so that an overlong line is cheap to build and translate


@dataclass(frozen=True)
class TrainedModel:
    """A work directory whose ``checkpoints/`` is a complete model directory."""

    workdir: Path
    raw: Path  # {train,valid,test}.{en,de}: the raw text the model was trained on
    max_positions: int  # source and target positions of the model

    @property
    def model_dir(self) -> Path:
        return self.workdir / "checkpoints"


def make_model_dir(model_dir: Path, sample: PreparedSample, arch: str) -> None:
    """Add what ``ea-mt train`` puts next to the checkpoints: spm, dictionaries, model.json."""
    shutil.copy(sample.spm_model, model_dir / "spm.model")
    for lang in ("en", "de"):
        shutil.copy(sample.data_bin / f"dict.{lang}.txt", model_dir / f"dict.{lang}.txt")
    manifest = {
        "format": "ea-mt-model",
        "version": 1,
        "src": "en",
        "tgt": "de",
        "arch": arch,
        "spm_model": "spm.model",
        "src_dict": "dict.en.txt",
        "tgt_dict": "dict.de.txt",
    }
    (model_dir / "model.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


@pytest.fixture(scope="session")
def trained_model(
    tmp_path_factory: pytest.TempPathFactory,
    small_sample: PreparedSample,
    fairseq_tools: FairseqTools,
) -> TrainedModel:
    """A vanilla ``transformer_tiny`` trained for 300 updates (about 20 s on one core)."""
    workdir = tmp_path_factory.mktemp("trained_model")
    fairseq_tools.train(
        small_sample.data_bin,
        workdir / "checkpoints",
        300,
        "--max-source-positions", str(MAX_POSITIONS),
        "--max-target-positions", str(MAX_POSITIONS),
        "--skip-invalid-size-inputs-valid-test",
        arch="transformer_tiny",
    )  # fmt: skip
    make_model_dir(workdir / "checkpoints", small_sample, "transformer_tiny")
    return TrainedModel(workdir=workdir, raw=small_sample.raw, max_positions=MAX_POSITIONS)


@pytest.fixture(scope="session")
def ea_model(
    tmp_path_factory: pytest.TempPathFactory,
    small_sample: PreparedSample,
    fairseq_tools: FairseqTools,
) -> TrainedModel:
    """An ``ea_transformer_tiny`` trained for 30 updates: enough to check the plumbing."""
    workdir = tmp_path_factory.mktemp("ea_model")
    fairseq_tools.train(small_sample.data_bin, workdir / "checkpoints", 30)
    make_model_dir(workdir / "checkpoints", small_sample, "ea_transformer_tiny")
    return TrainedModel(workdir=workdir, raw=small_sample.raw, max_positions=1024)
