"""``benchmarks.attention_stats``: per-layer attention figures of an EA and a vanilla model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ea_mt.decoding.translation import Translator
from ea_mt.inspection.capture import CHAINS
from ea_mt.inspection.sentence import inspect_sentence, report

if TYPE_CHECKING:
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]
pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


def test_one_sentence_matches_inspect(
    ea_model: TrainedModel, trained_model: TrainedModel, tmp_path: Path
) -> None:
    src, ref = ea_model.raw / "test.en", ea_model.raw / "test.de"
    args = ["--ea", ea_model.model_dir, "--vanilla", trained_model.model_dir, "--src", src,
            "--ref", ref, "--lines", "1", "--out", tmp_path]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "benchmarks.attention_stats", *map(str, args)]
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert "| cross | 1 |" in (tmp_path / "results.md").read_text(encoding="utf-8")
    assert results["sentences"] == 1

    source = src.read_text(encoding="utf-8").splitlines()[0]
    target = ref.read_text(encoding="utf-8").splitlines()[0]
    translators = [Translator.load(checkpoint=m.model_dir, device="cpu")
                   for m in (ea_model, trained_model)]
    ea, vanilla = report(inspect_sentence(translators, source, target))["models"]
    for chain in CHAINS:
        for row, ea_row, vanilla_row in zip(results["chains"][chain], ea["chains"][chain],
                                            vanilla["chains"][chain], strict=True):
            assert row["ea_entropy"]["mean"] == pytest.approx(ea_row["entropy"]["mean"])
            assert row["vanilla_entropy"]["mean"] == pytest.approx(
                vanilla_row["entropy"]["mean"])
            for name, stats in (("ea", ea_row), ("vanilla", vanilla_row)):
                for stat, key in (("jsd", "jsd_from_previous"), ("conv_share", "conv_share")):
                    expected = stats[key] and pytest.approx(stats[key]["mean"])
                    assert (row[f"{name}_{stat}"] and row[f"{name}_{stat}"]["mean"]) == expected
        assert results["chains"][chain][1]["ea_conv_share"] is not None
        assert results["chains"][chain][1]["vanilla_conv_share"] is None
