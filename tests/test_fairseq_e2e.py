"""fairseq's own tools drive the EA architecture end to end through ``--user-dir``:
train on a small real sample, generate, translate interactively, resume training."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ea_mt.checkpoint_safety import load_checkpoint

pytestmark = pytest.mark.slow

ARCH = "ea_transformer_tiny"
UPDATES = 300
MORE_UPDATES = 330


def train_inner_logs(output: str) -> list[dict]:
    """The json records fairseq-train logs every --log-interval updates."""
    return [json.loads(line.split("| train_inner | ", 1)[1])
            for line in output.splitlines() if "| train_inner | {" in line]


def hypotheses(output: str, prefix: str = "H") -> dict[int, str]:
    """Sentence id -> text of fairseq-generate/-interactive's ``H-<id>\\tscore\\ttext`` lines."""
    found = {}
    for line in output.splitlines():
        match = re.match(rf"{prefix}-(\d+)\t\S+\t(.*)$", line)
        if match:
            found[int(match[1])] = match[2]
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_sample, fairseq_tools) -> tuple[Path, str]:
    """A save dir after UPDATES updates of ARCH, and fairseq-train's output."""
    save_dir = tmp_path_factory.mktemp("e2e_checkpoints")
    output = fairseq_tools.train(small_sample.data_bin, save_dir, UPDATES, arch=ARCH)
    return save_dir, output


def test_training_lowers_the_loss(trained):
    save_dir, output = trained
    logs = train_inner_logs(output)
    assert [int(log["num_updates"]) for log in logs] == list(range(25, UPDATES + 1, 25))
    first, last = float(logs[0]["loss"]), float(logs[-1]["loss"])
    assert last < first - 2.0, f"loss went from {first} to {last} only"
    state = load_checkpoint(save_dir / "checkpoint_last.pt")
    assert state["cfg"].model.arch == ARCH
    assert state["optimizer_history"][-1]["num_updates"] == UPDATES


def test_generate_with_beam_search(trained, small_sample, fairseq_tools):
    save_dir, _ = trained
    output = fairseq_tools.run(
        "fairseq-generate", small_sample.data_bin, "--user-dir", fairseq_tools.user_dir,
        "--path", save_dir / "checkpoint_best.pt", "--gen-subset", "test", "--cpu",
        "--beam", "5", "--batch-size", "16", "--remove-bpe", "sentencepiece",
        # fairseq drops a last batch that is not a multiple of this (default 8): issue #5036.
        "--required-batch-size-multiple", "1",
    )
    n_test = len((small_sample.raw / "test.en").read_text(encoding="utf-8").splitlines())
    assert sorted(hypotheses(output)) == list(range(n_test))
    assert "Generate test with beam=5: BLEU4 = " in output


def test_interactive_translation(trained, small_sample, fairseq_tools):
    save_dir, _ = trained
    sentences = (small_sample.raw / "test.en").read_text(encoding="utf-8").splitlines()[:7]
    output = fairseq_tools.run(
        "fairseq-interactive", small_sample.data_bin, "--user-dir", fairseq_tools.user_dir,
        "--path", save_dir / "checkpoint_last.pt", "--cpu", "--beam", "5",
        "--source-lang", "en", "--target-lang", "de",
        "--bpe", "sentencepiece", "--sentencepiece-model", small_sample.spm_model,
        "--buffer-size", "3", "--batch-size", "3",
        stdin="".join(line + "\n" for line in sentences),
    )
    assert sorted(hypotheses(output, "D")) == list(range(len(sentences)))
    assert all("▁" not in text for text in hypotheses(output, "D").values())


def test_training_resumes_from_checkpoint_last(trained, tmp_path, small_sample, fairseq_tools):
    save_dir, _ = trained
    resumed = tmp_path / "resumed"
    shutil.copytree(save_dir, resumed)
    output = fairseq_tools.train(small_sample.data_bin, resumed, MORE_UPDATES, arch=ARCH)
    assert f"@ {UPDATES} updates)" in output  # "Loaded checkpoint ... (epoch N @ 300 updates)"
    logs = train_inner_logs(output)
    assert [int(log["num_updates"]) for log in logs] == [325]
    state = load_checkpoint(resumed / "checkpoint_last.pt")
    assert state["optimizer_history"][-1]["num_updates"] == MORE_UPDATES
