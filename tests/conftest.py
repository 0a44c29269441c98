"""Shared fixtures: the bundled Tatoeba sample, cut small, SentencePiece-encoded and binarized;
fairseq's command-line tools run with ea_mt as --user-dir; a tiny trained checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import sentencepiece as spm

import ea_mt

REPO = Path(__file__).resolve().parent.parent
BUNDLED_SAMPLE = REPO / "data" / "tatoeba-en-de"
# Pairs per split in the small sample: enough for a tiny model to learn something in a
# few hundred updates, small enough to encode and binarize in seconds.
SMALL_SIZES = {"train": 2500, "valid": 200, "test": 50}
SPM_VOCAB = 1000
LANGS = ("en", "de")


@dataclass(frozen=True)
class PreparedSample:
    """A small SentencePiece-encoded sample and its fairseq binarization."""

    raw: Path  # {split}.{lang}: plain text, the first lines of the bundled sample
    spm_model: Path  # joint En+De SentencePiece model
    encoded: Path  # {split}.{lang}: space-separated pieces
    data_bin: Path  # fairseq-preprocess --joined-dictionary output


class FairseqTools:
    """fairseq's console scripts from the running venv, with ea_mt as ``--user-dir``.

    Tools run single-threaded: on a shared 2-core machine, two OpenMP threads per process
    spin against each other and make tiny models several times slower.
    """

    # The folder of the installed package, exactly what a user passes to --user-dir.
    user_dir = os.path.dirname(ea_mt.__file__)

    def run(self, tool: str, *args: str | Path, stdin: str | None = None) -> str:
        """Run ``tool`` (e.g. "fairseq-train"); return stdout+stderr, fail the test on error."""
        command = [str(Path(sys.executable).parent / tool), *map(str, args)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        proc = subprocess.run(
            command, input=stdin, capture_output=True, text=True, env=env, check=False
        )
        if proc.returncode != 0:
            pytest.fail(f"{tool} exited {proc.returncode}:\n{proc.stderr[-4000:]}", pytrace=False)
        return proc.stdout + proc.stderr

    def train(
        self, data_bin: Path, save_dir: Path, max_update: int, *extra: str,
        arch: str = "ea_transformer_tiny",
    ) -> str:
        """``fairseq-train`` on CPU with small batches and json logs every 25 updates."""
        return self.run(
            "fairseq-train", data_bin, "--user-dir", self.user_dir, "--arch", arch, "--cpu",
            "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--lr", "3e-3",
            "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "50",
            "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
            "--max-tokens", "1000", "--max-update", str(max_update), "--seed", "1",
            "--save-dir", save_dir, "--no-epoch-checkpoints",
            "--log-format", "json", "--log-interval", "25", "--no-progress-bar", *extra,
        )


@pytest.fixture(scope="session")
def fairseq_tools() -> FairseqTools:
    """Runs fairseq-preprocess/-train/-generate/-interactive with ea_mt as --user-dir."""
    return FairseqTools()


def _head(src: Path, dst: Path, lines: int) -> None:
    with src.open(encoding="utf-8") as fin:
        dst.write_text("".join(next(fin) for _ in range(lines)), encoding="utf-8")


@pytest.fixture(scope="session")
def small_sample(
    tmp_path_factory: pytest.TempPathFactory, fairseq_tools: FairseqTools
) -> PreparedSample:
    """The first lines of the bundled sample, encoded with a 1000-piece SentencePiece
    model trained on them, and binarized by ``fairseq-preprocess --joined-dictionary``."""
    root = tmp_path_factory.mktemp("small_sample")
    raw, encoded = root / "raw", root / "spm"
    raw.mkdir()
    encoded.mkdir()
    for split, size in SMALL_SIZES.items():
        for lang in LANGS:
            _head(BUNDLED_SAMPLE / f"{split}.{lang}", raw / f"{split}.{lang}", size)

    prefix = root / "spm"
    spm.SentencePieceTrainer.train(
        input=[str(raw / f"train.{lang}") for lang in LANGS],
        model_prefix=str(prefix),
        vocab_size=SPM_VOCAB,
        model_type="unigram",
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
    )
    processor = spm.SentencePieceProcessor(model_file=f"{prefix}.model")
    for split in SMALL_SIZES:
        for lang in LANGS:
            lines = (raw / f"{split}.{lang}").read_text(encoding="utf-8").split("\n")[:-1]
            pieces = processor.encode(lines, out_type=str)
            text = "".join(" ".join(p) + "\n" for p in pieces)
            (encoded / f"{split}.{lang}").write_text(text, encoding="utf-8")

    data_bin = root / "data-bin"
    fairseq_tools.run(
        "fairseq-preprocess", "--source-lang", "en", "--target-lang", "de",
        "--trainpref", encoded / "train", "--validpref", encoded / "valid",
        "--testpref", encoded / "test", "--destdir", data_bin,
        "--joined-dictionary", "--workers", "1",
    )
    return PreparedSample(
        raw=raw, spm_model=Path(f"{prefix}.model"), encoded=encoded, data_bin=data_bin
    )


@pytest.fixture(scope="session")
def tiny_checkpoint(
    tmp_path_factory: pytest.TempPathFactory, small_sample: PreparedSample,
    fairseq_tools: FairseqTools,
) -> Path:
    """``checkpoint_last.pt`` of an ``ea_transformer_tiny`` trained for 3 updates on
    ``small_sample``, validated with ``--eval-bleu`` so its metrics hold numpy arrays."""
    save_dir = tmp_path_factory.mktemp("tiny_checkpoint")
    fairseq_tools.train(
        small_sample.data_bin, save_dir, 3,
        "--eval-bleu", "--eval-bleu-detok", "space",
        "--eval-bleu-remove-bpe", "sentencepiece", "--max-valid-steps", "1",
    )
    return save_dir / "checkpoint_last.pt"
