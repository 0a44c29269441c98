"""``demo``: the whole pipeline on the bundled Tatoeba En-De sample, in about ten minutes.

prepare -> train a small EA model against a wall-clock budget -> translate the
held-back test set with the best checkpoint (on valid BLEU) -> score BLEU and chrF.
Each step is the library function behind its command, so the demo is also a worked
example of the API.  (Averaging is left out: within minutes the model is far from
converged, and the mean of its last checkpoints scored 1.5-5 BLEU below the best.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import ea_mt
from ea_mt.data.prepare import PrepareRequest, prepare
from ea_mt.data.spm import SpmSettings
from ea_mt.decoding.options import DecodeOptions
from ea_mt.decoding.scoring import score_files
from ea_mt.devices import torch_threads
from ea_mt.errors import UserError, check_finite
from ea_mt.reporting import Reporter, SilentReporter
from ea_mt.training.fairseq_log import LogLine, TrainStatus
from ea_mt.training.train import (
    EVAL_BLEU_ARGS,
    TrainOptions,
    TrainPlan,
    plan_training,
    run_training,
)

DEFAULT_DEMO_WORKDIR = Path("ea-mt-demo")
SAMPLE_NAME = "tatoeba-en-de"
SRC, TGT = "en", "de"
VOCAB_SIZE = 4000
ARCH = "ea_transformer_tiny"
# ea_transformer_tiny's layout (2+2 layers), 128 wide.  Trials of 3 minutes on a busy
# 2-core machine gave valid BLEU 13.7 (64 wide), 13.0 (128, under heavier load), 10.7
# (256); the full 8 minutes at 128 wide: about 2000 updates, test BLEU 21.6.
MODEL_SIZE = (
    "--encoder-embed-dim", "128", "--decoder-embed-dim", "128",
    "--encoder-ffn-embed-dim", "256", "--decoder-ffn-embed-dim", "256",
    "--encoder-attention-heads", "4", "--decoder-attention-heads", "4",
)
MODEL_DESCRIPTION = "128-dim, 2+2 layers, 4 heads"
CHECKPOINT_EVERY = 250  # updates; also when valid BLEU is measured
# The test set is translated with the default beam, within validation's length limit.
TEST_DECODING = DecodeOptions(
    max_len_a=EVAL_BLEU_ARGS["max_len_a"], max_len_b=EVAL_BLEU_ARGS["max_len_b"]
)


def bundled_sample() -> Path:
    """The sample in the source checkout (``data/`` is not installed as package data)."""
    return Path(ea_mt.__file__).resolve().parents[1] / "data" / SAMPLE_NAME


@dataclass(frozen=True)
class DemoSettings:
    """Where the demo reads and writes, and its training budget."""

    data: Path = field(default_factory=bundled_sample)
    workdir: Path = DEFAULT_DEMO_WORKDIR
    minutes: float = 8.0
    max_update: int = 6000
    threads: int | None = 1

    def __post_init__(self) -> None:
        check_finite("--minutes", self.minutes)
        if self.minutes <= 0:
            raise UserError(f"--minutes must be positive, not {self.minutes}")


@dataclass(frozen=True)
class SystemScore:
    """Test-set scores of one checkpoint."""

    checkpoint: Path
    hypotheses: Path
    bleu: float
    chrf: float
    bleu_signature: str


@dataclass
class DemoResult:
    """What the demo produced and how long each step took."""

    train_pairs: int = 0
    test_pairs: int = 0
    updates: int = 0
    best_valid_bleu: float | None = None
    systems: list[SystemScore] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def check_data(folder: Path) -> None:
    """A UserError unless ``folder`` holds {train,valid,test}.{en,de}."""
    missing = [f"{split}.{lang}" for split in ("train", "valid", "test") for lang in (SRC, TGT)
               if not (folder / f"{split}.{lang}").is_file()]
    if missing:
        raise UserError(
            f"the demo data is missing in {folder} ({', '.join(missing)}); the demo runs from "
            "a source checkout of ea-mt, which bundles data/tatoeba-en-de, or pass "
            "--data DIR with train/valid/test.{en,de}"
        )


def train_plan(settings: DemoSettings) -> TrainPlan:
    """The demo's training run: a small EA model stopped by the time budget."""
    options = TrainOptions(
        arch=ARCH, lr=2e-3, warmup=200, dropout=0.1, max_tokens=2048,
        max_update=settings.max_update, save_interval_updates=CHECKPOINT_EVERY,
        keep_last=2, log_interval=50, threads=settings.threads,
        extra_args=(*MODEL_SIZE, "--stop-time-hours", f"{settings.minutes / 60:.4f}",
                    # validate and save on the update schedule only, not at epoch ends
                    "--save-interval", "1000000", "--validate-interval", "1000000"),
    )
    return plan_training(settings.workdir, options)


LineCallback = Callable[[LogLine, TrainStatus], None]


def run_demo(
    settings: DemoSettings,
    reporter: Reporter | None = None,
    training_display: Callable[[TrainPlan], AbstractContextManager[LineCallback | None]]
    | None = None,
) -> DemoResult:
    """Run every step.

    ``training_display(plan)`` may give a context that shows training: it is entered for
    the training step only and yields the callback for fairseq's log lines.
    """
    reporter = reporter or SilentReporter()
    training_display = training_display or (lambda plan: nullcontext(None))
    check_data(settings.data)
    result = DemoResult()
    clock = time.perf_counter()

    prepared = prepare(PrepareRequest(
        workdir=settings.workdir, src=SRC, tgt=TGT, train=settings.data / "train",
        valid=settings.data / "valid", tests=(settings.data / "test",),
        spm=SpmSettings(vocab_size=VOCAB_SIZE),
    ), reporter)
    result.train_pairs = prepared.manifest["counts"]["train"]["kept"]
    result.test_pairs = prepared.manifest["counts"]["test"]["pairs"]
    clock = _lap(result, "prepare", clock)

    plan = train_plan(settings)
    with training_display(plan) as on_line:
        status = run_training(plan, on_line)
    result.updates, result.best_valid_bleu = status.num_updates, status.best
    clock = _lap(result, "train", clock)

    # as many threads as training: two wait on each other on a busy CPU
    with torch_threads(settings.threads):
        result.systems.append(_score(plan.save_dir / "checkpoint_best.pt", settings, reporter))
    _lap(result, "translate+score", clock)
    return result


def _score(checkpoint: Path, settings: DemoSettings, reporter: Reporter) -> SystemScore:
    from ea_mt.decoding.translation import translate_file

    hypotheses = settings.workdir / f"test.{checkpoint.stem}.{TGT}"
    with reporter.step(f"Translating {settings.data / 'test'}.{SRC} with {checkpoint.name}"):
        translate_file(settings.data / f"test.{SRC}", hypotheses, checkpoint=checkpoint,
                       warn=reporter.info, **asdict(TEST_DECODING))
    report = score_files(hypotheses, [settings.data / f"test.{TGT}"], metrics=("bleu", "chrf"))
    scores = {score.metric.lower()[:4]: score for score in report.scores}
    return SystemScore(checkpoint=checkpoint, hypotheses=hypotheses,
                       bleu=scores["bleu"].score, chrf=scores["chrf"].score,
                       bleu_signature=scores["bleu"].signature)


def _lap(result: DemoResult, step: str, start: float) -> float:
    now = time.perf_counter()
    result.seconds[step] = now - start
    return now
