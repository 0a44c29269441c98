"""`ea-mt train` and `ea-mt average` on a small prepared slice of the bundled sample."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import ea_mt.cli.main  # noqa: F401  (attaches every command to the app)
from ea_mt.cli.app import app
from ea_mt.data.prepare import PrepareRequest, prepare
from ea_mt.data.spm import SpmSettings
from ea_mt.training.fairseq_log import parse
from ea_mt.training.train import TrainOptions, plan_training

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "tatoeba-en-de"
SIZES = {"train": 1500, "valid": 60}
# Small batches: many cheap updates, so the loss visibly falls within 100 of them.  One
# thread: on a busy 2-core machine, two threads wait on each other (10x slower).
TINY = ["--arch", "ea_transformer_tiny", "--max-tokens", "1024", "--warmup", "40",
        "--lr", "0.003", "--log-interval", "10", "--threads", "1", "--quiet"]


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory prepared from the first lines of the bundled sample."""
    root = tmp_path_factory.mktemp("train")
    for split, size in SIZES.items():
        for lang in ("en", "de"):
            with (SAMPLE / f"{split}.{lang}").open(encoding="utf-8") as f:
                lines = [next(f) for _ in range(size)]
            (root / f"{split}.{lang}").write_text("".join(lines), encoding="utf-8")
    work = root / "work"
    prepare(PrepareRequest(workdir=work, src="en", tgt="de", train=root / "train",
                           valid=root / "valid", spm=SpmSettings(vocab_size=800)))
    return work


def runs(log: Path) -> list[list]:
    """The parsed log lines of each run appended to train.log."""
    result: list[list] = []
    for text in log.read_text(encoding="utf-8").splitlines():
        if text.startswith("=== ea-mt train"):
            result.append([])
        elif result:
            result[-1].append(parse(text))
    return result


@pytest.mark.slow
def test_train_then_resume_then_average(workdir: Path) -> None:
    checkpoints = workdir / "checkpoints"
    first = invoke("train", "-w", workdir, *TINY, "--max-update", "100")
    assert first.exit_code == 0, first.output
    assert first.stdout == ""

    model = json.loads((checkpoints / "model.json").read_text(encoding="utf-8"))
    assert model == {"format": "ea-mt-model", "version": 1, "src": "en", "tgt": "de",
                     "arch": "ea_transformer_tiny", "spm_model": "spm.model",
                     "src_dict": "dict.en.txt", "tgt_dict": "dict.de.txt"}
    for name in ("spm.model", "dict.en.txt", "dict.de.txt", "checkpoint_best.pt",
                 "checkpoint_last.pt", "checkpoint1.pt"):
        assert (checkpoints / name).is_file(), name
    config = json.loads((checkpoints / "train_config.json").read_text(encoding="utf-8"))
    assert config["options"]["max_update"] == 100 and "--eval-bleu" in config["fairseq_command"]

    (run,) = runs(checkpoints / "train.log")
    losses = [line.stats["loss"] for line in run if line.source == "train_inner"]
    assert len(losses) == 10 and losses[-1] < losses[0] - 2, losses
    assert any("valid_bleu" in line.stats for line in run if line.source == "valid")

    resumed = invoke("train", "-w", workdir, *TINY, "--max-update", "130")
    assert resumed.exit_code == 0, resumed.output
    second = runs(checkpoints / "train.log")[1]
    assert any("Loaded checkpoint" in line.message and "@ 100 updates" in line.message
               for line in second)
    updates = [line.stats["num_updates"] for line in second if line.source == "train_inner"]
    assert updates[0] == 110 and updates[-1] == 130

    averaged = invoke("average", "-w", workdir, "--last", "2", "-q")
    assert averaged.exit_code == 0, averaged.output
    assert averaged.stdout.strip() == str(checkpoints / "checkpoint_avg.pt")
    epochs = sorted(checkpoints.glob("checkpoint[0-9]*.pt"), key=lambda p: int(p.stem[10:]))
    states = [torch.load(p, map_location="cpu", weights_only=True) for p in epochs[-2:]]
    average = torch.load(checkpoints / "checkpoint_avg.pt", map_location="cpu", weights_only=True)
    name = "encoder.layers.0.fc1.weight"
    expected = (states[0]["model"][name] + states[1]["model"][name]) / 2
    assert torch.allclose(average["model"][name], expected)
    assert "last_optimizer_state" not in average

    from fairseq import checkpoint_utils

    models, _, _ = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoints / "checkpoint_avg.pt")], arg_overrides={"data": str(checkpoints)}
    )
    assert type(models[0]).__name__ == "EATransformerModel"

    too_many = invoke("average", "-w", workdir, "--last", "50")
    assert too_many.exit_code == 2 and "holds only" in too_many.stderr


def test_plan_applies_presets_overrides_and_raw_options(workdir: Path, tmp_path: Path) -> None:
    plan = plan_training(workdir, TrainOptions(arch="transformer_iwslt_de_en", lr=1e-4,
                                               extra_args=("--update-freq", "4", "--lr", "2e-4")),
                         save_dir=tmp_path / "ckpt")
    command = plan.command
    assert command[1:3] == ["-m", "ea_mt.training.fairseq_train"]
    assert command[3] == str(workdir / "data-bin")
    ours = command[:-4]
    value = {flag: ours[i + 1] for i, flag in enumerate(ours[:-1]) if flag.startswith("--")}
    assert value["--dropout"] == "0.3" and value["--warmup-updates"] == "4000"  # iwslt preset
    assert value["--max-update"] == "60000" and value["--weight-decay"] == "0.0001"
    assert "--share-all-embeddings" in command and "--cpu" in command
    assert "--eval-bleu" in command and value["--best-checkpoint-metric"] == "bleu"
    assert command[-4:] == ["--update-freq", "4", "--lr", "2e-4"]  # raw options win: last
    assert value["--lr"] == "0.0001"

    options = TrainOptions(arch="ea_transformer_tiny", max_epoch=3, eval_bleu=False, ea_alpha=0.2)
    no_bleu = plan_training(workdir, options, save_dir=tmp_path / "other")
    assert "--eval-bleu" not in no_bleu.command and "--max-update" not in no_bleu.command
    assert no_bleu.command[no_bleu.command.index("--ea-alpha") + 1] == "0.2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "lstm"], "--arch 'lstm' is not a translation Transformer"),
        (["--arch", "transformer_tiny", "--ea-alpha", "0.3"],
         "--ea-alpha only apply to evolving-attention architectures"),
        (["--arch", "ea_transformer_tiny", "--ea-beta", "1.5"], "--ea-beta must lie in [0, 1]"),
        (["--arch", "ea_transformer_tiny", "--ea-chains", "up"], "unknown chain"),
        (["--arch", "transformer_tiny", "--dropout", "1"], "--dropout must lie in [0, 1)"),
        (["--arch", "transformer_tiny", "--max-update", "0"], "--max-update must be positive"),
        (["--arch", "transformer_tiny", "--device", "tpu"], "--device must be one of"),
    ],
)
def test_option_errors_are_one_line(workdir: Path, args: list[str], message: str) -> None:
    result = invoke("train", "-w", workdir, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("ea-mt: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr


def test_unprepared_workdir_is_an_error(tmp_path: Path) -> None:
    result = invoke("train", "-w", tmp_path, "--arch", "transformer_tiny")
    assert result.exit_code == 2 and "no prepare.json" in result.stderr


def test_fairseq_failure_is_one_line_pointing_at_the_log(workdir: Path, tmp_path: Path) -> None:
    save_dir = tmp_path / "ckpt"
    result = invoke("train", "-w", workdir, "--save-dir", save_dir, *TINY, "--max-update", "1",
                    "--", "--no-such-fairseq-option")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "unrecognized arguments" in result.stderr
    assert str(save_dir / "train.log") in result.stderr


def test_resume_refuses_another_model(workdir: Path, tmp_path: Path) -> None:
    save_dir = tmp_path / "ckpt"
    save_dir.mkdir()
    (save_dir / "checkpoint_last.pt").write_bytes(b"")
    config = {"options": {"arch": "ea_transformer_tiny", "ea_alpha": None}}
    (save_dir / "train_config.json").write_text(json.dumps(config), encoding="utf-8")
    result = invoke("train", "-w", workdir, "--save-dir", save_dir, "--arch", "transformer_tiny")
    assert result.exit_code == 2
    assert "was trained with --arch ea_transformer_tiny" in result.stderr


def test_help_shows_examples_and_presets() -> None:
    for command in ("train", "average"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Examples" in result.stdout
    assert "Presets" in invoke("train", "--help").stdout


def test_validation_bleu_is_zero_not_missing_when_hypotheses_have_no_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fairseq import metrics
    from fairseq.tasks.translation import TranslationTask

    from ea_mt.training.fairseq_train import _bleu_zero_when_empty

    monkeypatch.setattr(TranslationTask, "reduce_metrics", TranslationTask.reduce_metrics)
    _bleu_zero_when_empty()
    task = TranslationTask.__new__(TranslationTask)

    class NoCriterion:
        @staticmethod
        def reduce_metrics(logging_outputs: list) -> None:
            pass

    def batch(words: int, ref_len: int) -> dict:
        stats = {"ntokens": 10, "nsentences": 1, "_bleu_sys_len": words, "_bleu_ref_len": ref_len}
        for i in range(4):  # the hypothesis is the reference's first `words` words
            ngrams = max(0, words - i)
            stats |= {f"_bleu_counts_{i}": ngrams, f"_bleu_totals_{i}": ngrams}
        return stats

    with metrics.aggregate(new_root=True) as agg:
        task.reduce_metrics([batch(0, 3)], NoCriterion())
        assert agg.get_smoothed_values()["bleu"] == 0
    with metrics.aggregate(new_root=True) as agg:  # a batch with words, then one without
        task.reduce_metrics([batch(4, 4)], NoCriterion())
        task.reduce_metrics([batch(0, 3)], NoCriterion())
        assert agg.get_smoothed_values()["bleu"] == pytest.approx(100 * 2.718281828 ** (1 - 7 / 4),
                                                                   abs=0.01)


def test_print_command_shows_the_ddp_launch_and_trains_nothing(workdir: Path) -> None:
    save_dir = workdir / "printed"
    result = invoke("train", "-w", workdir, "--save-dir", save_dir, *TINY, "--nproc", "2",
                    "--print-command")
    assert result.exit_code == 0, result.output
    command = shlex.split(result.stdout)
    assert command[1:6] == ["-m", "torch.distributed.run", "--standalone",
                            "--nproc-per-node", "2"]
    assert command[6:9] == ["-m", "ea_mt.training.distributed", str(workdir / "data-bin")]
    assert command[command.index("--arch"):][:2] == ["--arch", "ea_transformer_tiny"]
    assert not save_dir.exists()
