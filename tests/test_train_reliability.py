"""Training that is killed, interrupted, locked out or run on two processes loses nothing.

Real ``ea-mt train`` processes on a small prepared slice of the bundled sample: killed
at random moments (SIGKILL, SIGINT, SIGTERM) and resumed until done, they end with
exactly the parameters of an uninterrupted run; a kill in the middle of a checkpoint
write leaves the previous checkpoints loadable; two DDP processes on CPU train one model.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli_train import runs as log_runs
from typer.testing import CliRunner

import ea_mt.cli.main  # noqa: F401  (attaches every command to the app)
from ea_mt.checkpoint_safety import load_checkpoint
from ea_mt.cli.app import app
from ea_mt.data.prepare import PrepareRequest, prepare
from ea_mt.data.spm import SpmSettings
from ea_mt.errors import UserError
from ea_mt.training import runlock
from ea_mt.training.safety import PARAMS_LOG, parameters_sha256
from ea_mt.training.train import TrainOptions, plan_training, write_model_dir

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "tatoeba-en-de"
EA_MT = str(Path(sys.executable).parent / "ea-mt")
MAX_UPDATE = 100  # long enough that no round ends before its signal on an idle CPU
# A checkpoint every 10 updates; small batches; no BLEU (validation stays cheap).
TRAIN = ["--arch", "ea_transformer_tiny", "--max-tokens", "1024", "--warmup", "40",
         "--lr", "0.003", "--log-interval", "10", "--threads", "1", "--no-eval-bleu",
         "--save-interval-updates", "10", "--patience", "50", "--device", "cpu", "-q"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory prepared from 1,500 training pairs of the bundled sample."""
    root = tmp_path_factory.mktemp("reliability")
    for split, size in (("train", 1500), ("valid", 60)):
        for lang in ("en", "de"):
            with (SAMPLE / f"{split}.{lang}").open(encoding="utf-8") as f:
                (root / f"{split}.{lang}").write_text("".join(next(f) for _ in range(size)),
                                                      encoding="utf-8")
    work = root / "work"
    prepare(PrepareRequest(workdir=work, src="en", tgt="de", train=root / "train",
                           valid=root / "valid", spm=SpmSettings(vocab_size=800)))
    return work


def train_args(workdir: Path, save_dir: Path, max_update: int = MAX_UPDATE) -> list[str]:
    return ["train", "-w", str(workdir), "--save-dir", str(save_dir), *TRAIN,
            "--max-update", str(max_update)]


@pytest.fixture(scope="module")
def baseline(workdir: Path) -> Path:
    """The save directory of an uninterrupted run of MAX_UPDATE updates."""
    save_dir = workdir / "baseline"
    result = CliRunner().invoke(app, train_args(workdir, save_dir))
    assert result.exit_code == 0, result.output
    return save_dir


def checkpoint(path: Path) -> dict:
    """A checkpoint as ea-mt loads it (weights-only unpickler): fails if truncated."""
    return load_checkpoint(path)


def updates(path: Path) -> int:
    return checkpoint(path)["optimizer_history"][-1]["num_updates"]


def wait_until_free(save_dir: Path, seconds: float = 20) -> None:
    """Wait for every process of a killed run to be gone (they hold the run lock)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            runlock.acquire(save_dir).release()
            return
        except UserError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_for_training(log: Path, runs_before: int, update: int = 0, seconds: float = 60) -> None:
    """Wait until the run just started has logged training statistics (of ``update`` or later)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.is_file():
            runs = log_runs(log)
            if len(runs) > runs_before and any(
                x.source == "train_inner" and int(x.stats["num_updates"]) >= update
                for x in runs[-1]
            ):
                return
        time.sleep(0.2)
    raise AssertionError(f"training did not reach update {update}")


@pytest.mark.slow
def test_killed_at_random_moments_resumes_to_the_uninterrupted_result(
    workdir: Path, baseline: Path
) -> None:
    save_dir = workdir / "interrupted"
    log = save_dir / "train.log"
    last = save_dir / "checkpoint_last.pt"
    rng = random.Random(6)
    expected_loads: list[int | None] = []  # per run: the update checkpoint_last had
    for round_, sig in enumerate((signal.SIGKILL, signal.SIGINT, signal.SIGTERM)):
        expected_loads.append(updates(last) if last.is_file() else None)
        runs_before = len(log_runs(log)) if log.is_file() else 0
        proc = subprocess.Popen([EA_MT, *train_args(workdir, save_dir)], env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if sig == signal.SIGKILL:  # anywhere in training or saving, before the end
            wait_for_training(log, runs_before, update=rng.choice((10, 20)))
            time.sleep(rng.uniform(0, 0.5))
        else:
            wait_for_training(log, runs_before)
            if round_ == 1:  # meanwhile, a second run into the same directory is refused
                second = CliRunner().invoke(app, train_args(workdir, save_dir))
                assert second.exit_code == 2
                assert "in use by another training run (pid" in second.stderr
            time.sleep(rng.uniform(0, 0.3))  # ~20 updates/s on an idle core
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
        wait_until_free(save_dir)  # the fairseq child died with its parent
        if sig == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL
            continue
        assert proc.returncode == 128 + sig, stderr
        stopped = int(re.search(r"Interrupted at update (\d+)", stderr).group(1))
        assert updates(last) == stopped  # saved on the signal

    expected_loads.append(updates(last))
    final = CliRunner().invoke(app, train_args(workdir, save_dir))
    assert final.exit_code == 0, final.output
    runs = log_runs(log)
    assert len(runs) == len(expected_loads)
    for run, expected in zip(runs, expected_loads, strict=True):
        loaded = [int(m.group(1)) for line in run
                  if (m := re.search(r"Loaded checkpoint .*@ (\d+) updates", line.message))]
        assert loaded == ([] if expected is None else [expected]), (loaded, expected)
    assert any(f"max_update: {MAX_UPDATE}" in line.message for line in runs[-1])
    again = CliRunner().invoke(app, train_args(workdir, save_dir))  # a finished run stays so
    assert again.exit_code == 0, again.output
    assert "reached by an earlier run" in log.read_text(encoding="utf-8")

    mine, theirs = (checkpoint(d / "checkpoint_last.pt") for d in (save_dir, baseline))
    assert mine["optimizer_history"][-1]["num_updates"] == MAX_UPDATE
    assert parameters_sha256(mine["model"]) == parameters_sha256(theirs["model"])
    assert mine["last_optimizer_state"]["state"][0]["exp_avg"].equal(
        theirs["last_optimizer_state"]["state"][0]["exp_avg"])
    for key in ("best", "TranslationTask"):  # best loss and --patience's count
        assert mine["extra_state"][key] == theirs["extra_state"][key]
    assert "ea_mt_early_stop" in mine["extra_state"]["TranslationTask"]
    assert not (save_dir / runlock.LOCK_NAME).exists()


# Runs fairseq-train (ea_mt.training.fairseq_train) and SIGKILLs itself in the middle of writing
# the checkpoint of update 20: in torch.save of checkpoint_1_20.pt, or in the copy of
# that checkpoint to checkpoint_best.pt / checkpoint_last.pt.
DIE_DURING_WRITE = """
import os, shutil, signal, sys, torch
from ea_mt.training import fairseq_train

where = sys.argv.pop(1)

def die_writing(write):
    def wrapper(source, out, *args, **kwargs):
        name = getattr(source, "name", "") if where == "copy" else ""
        if where == "save" and torch.save.calls == 1 or "_20.pt" in str(name):
            out.write(b"half a checkpoint")
            out.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save.calls += where == "save"
        return write(source, out, *args, **kwargs)
    return wrapper

if where == "save":
    torch.save = die_writing(torch.save)
else:
    shutil.copyfileobj = die_writing(shutil.copyfileobj)
torch.save.calls = 0
sys.argv[0] = "fairseq-train"
fairseq_train.main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("where", ["save", "copy"])
def test_kill_during_a_checkpoint_write_keeps_the_previous_checkpoint(
    workdir: Path, tmp_path: Path, where: str
) -> None:
    options = TrainOptions(arch="ea_transformer_tiny", max_tokens=1024, warmup=40, lr=0.003,
                           max_update=30, save_interval_updates=10, eval_bleu=False,
                           device="cpu", threads=1)
    plan = plan_training(workdir, options, tmp_path / "ckpt")
    write_model_dir(plan)
    assert plan.command[1:3] == ["-m", "ea_mt.training.fairseq_train"]
    command = [sys.executable, "-c", DIE_DURING_WRITE, where, *plan.command[3:]]
    proc = subprocess.run(command, env=ENV, capture_output=True, text=True, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stdout[-3000:]
    saved = [line for line in proc.stdout.splitlines() if "Saved checkpoint" in line]
    assert saved and not any("@ 20 updates" in line for line in saved), saved

    for name in ("checkpoint_last.pt", "checkpoint_best.pt"):
        assert updates(plan.save_dir / name) == 10, name


def test_corrupt_checkpoint_last_is_a_one_line_error(workdir: Path, tmp_path: Path) -> None:
    plan = plan_training(workdir, TrainOptions(arch="ea_transformer_tiny"), tmp_path / "ckpt")
    write_model_dir(plan)
    last = plan.save_dir / "checkpoint_last.pt"
    for damage in (b"", b"PK\x03\x04 not really a checkpoint", b"\x80\x02}q\x00."):
        last.write_bytes(damage)
        result = CliRunner().invoke(app, ["train", "-w", str(workdir), "--save-dir",
                                          str(plan.save_dir), "--arch", "ea_transformer_tiny"])
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert f"cannot resume: {last} is not a readable checkpoint" in result.stderr


def test_lock_names_its_holder_and_stale_locks_are_taken_over(tmp_path: Path) -> None:
    with runlock.acquire(tmp_path, "first") as held:
        lock_file = tmp_path / runlock.LOCK_NAME
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()
        with pytest.raises(UserError, match=rf"in use by another training run \(pid "
                                            rf"{os.getpid()} on "):
            runlock.acquire(tmp_path)
        assert held.fd >= 0
    assert not lock_file.exists()

    dead = {"pid": 999999999, "host": "elsewhere", "started": "yesterday"}
    lock_file.write_text(json.dumps(dead))  # left by a killed run: nobody holds its flock
    with runlock.acquire(tmp_path) as taken:
        assert taken.stale == dead
    assert not lock_file.exists()


@pytest.mark.slow
def test_two_ddp_processes_train_one_model(workdir: Path, baseline: Path) -> None:
    save_dir = workdir / "ddp"
    result = CliRunner().invoke(app, [*train_args(workdir, save_dir, 30), "--nproc", "2"])
    assert result.exit_code == 0, result.output
    (run,) = log_runs(save_dir / "train.log")
    messages = [line.message for line in run]
    assert any("training on 2 devices" in m for m in messages)
    assert sum("distributed init (rank" in m for m in messages) == 2

    sums: dict[int, dict[int, str]] = {}
    for m in messages:
        if (found := re.search(rf"rank (\d) update (\d+) {PARAMS_LOG} (\w+)", m)):
            sums.setdefault(int(found.group(2)), {})[int(found.group(1))] = found.group(3)
    assert 30 in sums and len(sums) >= 3, sums  # every save, the end of epoch 1 included
    assert all(set(ranks) == {0, 1} and ranks[0] == ranks[1] for ranks in sums.values())
    last = checkpoint(save_dir / "checkpoint_last.pt")
    assert parameters_sha256(last["model"]) == sums[30][0]
    saves = [m for m in messages if m.startswith("Saved checkpoint")]
    assert len(saves) == len(sums)  # rank 0 alone writes

    def losses(lines: list) -> dict[int, float]:
        return {int(x.stats["num_updates"]): x.stats["loss"] for x in lines
                if x.source == "train_inner"}

    ddp = losses(run)
    single = losses(log_runs(baseline / "train.log")[0])
    assert ddp[30] < ddp[10] - 1.0, ddp
    assert ddp[30] <= single[30] + 0.2, (ddp, single)  # twice the batch: no slower per update
