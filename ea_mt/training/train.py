"""``train``: run fairseq-train on a prepared work directory, with presets per architecture.

fairseq-train runs as a subprocess (``python -m ea_mt.training.fairseq_train``, fairseq's own
``fairseq_cli.train`` with validation BLEU fixed for empty hypotheses); its log is
appended to ``SAVE_DIR/train.log`` and parsed as it streams.  Before it starts, the
save directory is made a self-contained model directory (SentencePiece model,
dictionaries, ``model.json``) and ``train_config.json`` records the effective settings.
A rerun resumes from ``checkpoint_last.pt``, as fairseq does with the same --save-dir.

One run at a time writes a save directory (:mod:`ea_mt.training.runlock`).  SIGINT and SIGTERM
are forwarded once to fairseq-train, which saves a checkpoint after the current update
and stops (:mod:`ea_mt.training.safety`); a second signal kills it at once.  fairseq-train
runs in its own session and dies with this process.  With ``nproc`` > 1 it runs as
``nproc`` DDP processes under ``torch.distributed.run`` (:mod:`ea_mt.training.distributed`).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ea_mt
from ea_mt.devices import check_device, resolve_device, thread_env
from ea_mt.errors import UserError, check_finite
from ea_mt.fileio import copy_atomic, write_json_atomic
from ea_mt.modeldir import model_manifest
from ea_mt.models.config import EAConfig
from ea_mt.training import presets, runlock
from ea_mt.training.fairseq_log import LogLine, TrainStatus, last_saved_update, parse
from ea_mt.training.options import TRAIN_CONFIG_FORMAT, TrainOptions
from ea_mt.training.safety import die_with_parent
from ea_mt.workdir import MODEL_JSON, WorkDir, read_json, sha256_file

EVAL_BLEU_ARGS = {"beam": 4, "max_len_a": 1.2, "max_len_b": 10}
# Settings that decide the model's shape or data: a resume must not change them.
RESUME_KEYS = ("arch", "ea_alpha", "ea_beta", "ea_kernel_size", "ea_chains")
# fairseq-train options whose value ea-mt itself relies on (the model directory, resume,
# translate, progress): after ``--`` they are refused, with the ea-mt option to use instead
# (None: ea-mt's own).  Other fairseq options after ``--`` win over ea-mt's, last on the
# command line, and are recorded in train_config.json.
MANAGED_FAIRSEQ_OPTIONS: dict[str, str | None] = {
    "--arch": "--arch", "-a": "--arch", "--save-dir": "--save-dir", "--seed": "--seed",
    "--max-update": "--max-update", "--max-epoch": "--max-epoch",
    "--user-dir": None, "--task": None, "--source-lang": None, "-s": None,
    "--target-lang": None, "-t": None, "--log-format": None, "--eval-bleu": "--eval-bleu",
    "--best-checkpoint-metric": "--eval-bleu/--no-eval-bleu",
    "--maximize-best-checkpoint-metric": "--eval-bleu/--no-eval-bleu",
    "--ea-alpha": "--ea-alpha", "--ea-beta": "--ea-beta", "--ea-kernel-size": "--ea-kernel-size",
    "--ea-chains": "--ea-chains", "--ea-ramp-updates": "--ea-ramp-updates",
}
STOP_WAIT_S = 120  # after forwarding a stop signal, how long fairseq-train may take to save


@dataclass(frozen=True)
class TrainPlan:
    """A checked training run: effective options, device and the fairseq command line."""

    workdir: WorkDir
    save_dir: Path
    manifest: dict[str, Any]
    options: TrainOptions
    device: str
    command: list[str]
    resume: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # on resume: what differs from the saved run, and what is kept

    @property
    def log_path(self) -> Path:
        return self.save_dir / "train.log"


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT/SIGTERM; ``status`` tells where (fairseq saved there).

    A KeyboardInterrupt, so that callers which handled Ctrl-C before still do.
    """

    def __init__(self, status: TrainStatus, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum} at update {status.num_updates}")
        self.status = status
        self.signum = signum


def plan_training(workdir: Path, options: TrainOptions, save_dir: Path | None = None) -> TrainPlan:
    """Check the options against the work directory and build the fairseq command."""
    wd = WorkDir(workdir)
    manifest = wd.load_manifest()
    presets.check_arch(options.arch)
    _check_options(options)
    effective = _with_preset(options)
    device = resolve_device(options.device)
    _check_nproc(options.nproc, device)
    save_dir = save_dir or wd.checkpoints
    config = {
        "format": TRAIN_CONFIG_FORMAT,
        "version": 1,
        "arch": options.arch,
        "family": presets.family(options.arch),
        "device": device,
        "options": asdict(effective),
        "prepare_sha256": sha256_file(wd.manifest),
    }
    resume = (save_dir / "checkpoint_last.pt").is_file()
    notes: tuple[str, ...] = ()
    if resume:
        previous = _check_resumable(save_dir, config)
        check_checkpoint_file(save_dir / "checkpoint_last.pt")
        notes = _resume_notes(save_dir, previous, effective)
    command = _command(wd, manifest, effective, device, save_dir)
    config["fairseq_command"] = shlex.join(command)
    return TrainPlan(
        workdir=wd,
        save_dir=save_dir,
        manifest=manifest,
        options=effective,
        device=device,
        command=command,
        resume=resume,
        config=config,
        notes=notes,
    )


def run_training(
    plan: TrainPlan, on_line: Callable[[LogLine, TrainStatus], None] | None = None
) -> TrainStatus:
    """Lock the save directory, write the model directory, run fairseq-train, follow its log.

    A failure of fairseq-train is a UserError naming its last error line and the log;
    SIGINT/SIGTERM received meanwhile end it with :class:`TrainingInterrupted`.
    """
    with runlock.acquire(plan.save_dir, plan.config["fairseq_command"]) as lock:
        write_model_dir(plan)
        return _run_fairseq(plan, lock, on_line)


def _run_fairseq(
    plan: TrainPlan,
    lock: runlock.RunLock,
    on_line: Callable[[LogLine, TrainStatus], None] | None,
) -> TrainStatus:
    status = TrainStatus(best_metric="bleu" if plan.options.eval_bleu else "loss")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", runlock.HELD_ENV: str(plan.save_dir)}
    env |= thread_env(plan.options.threads)
    with plan.log_path.open("a", encoding="utf-8") as log:
        log.write(
            f"=== ea-mt train {datetime.now(UTC).isoformat(timespec='seconds')}: "
            f"{plan.config['fairseq_command']}\n"
        )
        log.flush()
        process = subprocess.Popen(
            plan.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            start_new_session=True,  # a terminal's Ctrl-C reaches it only through us
            pass_fds=(lock.fd,),  # it holds the save directory's lock with us
            preexec_fn=die_with_parent,
        )
        try:
            with _forwarding_signals(process) as received:
                assert process.stdout is not None
                for text in process.stdout:
                    log.write(text)
                    log.flush()  # for readers of the log: tail -f, tests
                    line = parse(text)
                    status.update(line)
                    if on_line is not None:
                        on_line(line, status)
                returncode = process.wait()
        except BaseException:
            _stop(process)
            raise
    if received:
        raise TrainingInterrupted(status, received[0])
    if returncode != 0:
        reason = status.error or f"fairseq-train exited with code {returncode}"
        raise UserError(f"training failed: {reason} (full log: {plan.log_path})")
    return status


def check_checkpoint_file(path: Path) -> None:
    """A UserError naming ``path`` unless it is a complete torch checkpoint archive.

    Checks the zip structure and every member's CRC, without unpickling anything.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            damaged = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        damaged, names = f"{type(error).__name__}: {error}", []
    if damaged is None and not any(name.endswith("/data.pkl") for name in names):
        damaged = "no data.pkl: not a torch checkpoint"
    if damaged is not None:
        raise UserError(
            f"cannot resume: {path} is not a readable checkpoint, truncated or corrupt? "
            f"({damaged}); move it away to start over, or copy an earlier checkpoint "
            "of this directory over it to resume from there"
        )


def write_model_dir(plan: TrainPlan) -> None:
    """Make the save directory a model directory translate can load on its own."""
    src, tgt = plan.manifest["src"], plan.manifest["tgt"]
    plan.save_dir.mkdir(parents=True, exist_ok=True)
    copy_atomic(plan.workdir.spm_model, plan.save_dir / "spm.model")
    for lang in (src, tgt):
        copy_atomic(plan.workdir.data_bin / f"dict.{lang}.txt", plan.save_dir / f"dict.{lang}.txt")
    write_json_atomic(plan.save_dir / MODEL_JSON, model_manifest(src, tgt, plan.options.arch))
    created = datetime.now(UTC).isoformat(timespec="seconds")
    write_json_atomic(
        plan.save_dir / "train_config.json",
        {**plan.config, "created": created, "ea_mt_version": ea_mt.__version__},
    )


def _check_options(options: TrainOptions) -> None:
    for flag, number in (("--lr", options.lr), ("--dropout", options.dropout),
                         ("--ea-alpha", options.ea_alpha), ("--ea-beta", options.ea_beta)):
        check_finite(flag, number)
    positive = {
        "--lr": options.lr,
        "--max-tokens": options.max_tokens,
        "--max-epoch": options.max_epoch,
        "--max-update": options.max_update,
        "--patience": options.patience,
        "--keep-last": options.keep_last,
        "--save-interval-updates": options.save_interval_updates,
        "--threads": options.threads,
    }
    for flag, value in positive.items():
        if value is not None and value <= 0:
            raise UserError(f"{flag} must be positive, not {value}")
    if options.warmup is not None and options.warmup < 0:
        raise UserError(f"--warmup must be 0 or more, not {options.warmup}")
    if options.dropout is not None and not 0 <= options.dropout < 1:
        raise UserError(f"--dropout must lie in [0, 1), not {options.dropout}")
    check_device(options.device)
    ea_given = [
        flag
        for flag, value in (
            ("--ea-alpha", options.ea_alpha),
            ("--ea-beta", options.ea_beta),
            ("--ea-kernel-size", options.ea_kernel_size),
            ("--ea-chains", options.ea_chains),
            ("--ea-ramp-updates", options.ea_ramp_updates),
        )
        if value is not None
    ]
    _check_extra_args(options.extra_args)
    if ea_given and not presets.is_ea(options.arch):
        raise UserError(
            f"{', '.join(ea_given)} only apply to evolving-attention architectures "
            f"(ea_*), not to {options.arch}"
        )


def _check_extra_args(extra_args: tuple[str, ...]) -> None:
    """A UserError for a fairseq option after ``--`` that ea-mt itself manages."""
    for arg in extra_args:
        flag = arg.split("=", 1)[0]
        if flag not in MANAGED_FAIRSEQ_OPTIONS:
            continue
        ours = MANAGED_FAIRSEQ_OPTIONS[flag]
        instead = f"use 'ea-mt train {ours}'" if ours else "ea-mt sets it itself"
        raise UserError(
            f"{flag} after '--' would bypass ea-mt, which records, resumes and translates "
            f"with its own setting; {instead}"
        )


def _with_preset(options: TrainOptions) -> TrainOptions:
    """``options`` with every value left to the preset or to the EA defaults filled in."""
    preset = presets.PRESETS[presets.family(options.arch)]
    if presets.is_ea(options.arch):
        options = replace(options, **resolve_ea(options).option_values())
    no_limit = options.max_update is None and options.max_epoch is None
    return replace(
        options,
        lr=preset.lr if options.lr is None else options.lr,
        warmup=preset.warmup if options.warmup is None else options.warmup,
        max_tokens=options.max_tokens or preset.max_tokens,
        dropout=preset.dropout if options.dropout is None else options.dropout,
        max_update=preset.max_update if no_limit else options.max_update,
    )


def resolve_ea(options: TrainOptions) -> EAConfig:
    """The effective evolving-attention settings of ``options`` (a UserError if invalid)."""
    try:
        return EAConfig.resolve(options.ea_alpha, options.ea_beta, options.ea_kernel_size,
                                options.ea_chains, options.ea_ramp_updates)
    except ValueError as error:
        raise UserError(str(error)) from None


def _check_nproc(nproc: int, device: str) -> None:
    if nproc < 1:
        raise UserError(f"--nproc must be positive, not {nproc}")
    if device == "cuda" and nproc > 1:
        import torch

        gpus = torch.cuda.device_count()
        if nproc > gpus:
            raise UserError(f"--nproc {nproc}: only {gpus} CUDA GPU(s) visible here; "
                            "run at most one process per GPU")


def _check_resumable(save_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The saved run's effective options; a UserError unless the checkpoints in ``save_dir``
    came from the same model and data."""
    previous_path = save_dir / "train_config.json"
    if not previous_path.is_file():
        raise UserError(
            f"{save_dir} holds checkpoints that ea-mt did not write (no "
            "train_config.json); choose another --save-dir"
        )
    previous = read_json(previous_path)
    old, new = _effective(previous.get("options", {})), config["options"]
    changed = [key for key in RESUME_KEYS if old.get(key) != new.get(key)]
    if changed:
        was = ", ".join(_as_flag(key, old.get(key)) for key in changed)
        raise UserError(
            f"{save_dir}/checkpoint_last.pt was trained with {was}; pass the same "
            "options to resume it, or give a new model another --save-dir"
        )
    if previous.get("prepare_sha256") != config["prepare_sha256"]:
        raise UserError(
            f"the checkpoints in {save_dir} were trained on an earlier preparation "
            "of the data; give the new model another --save-dir"
        )
    return old


def _resume_notes(save_dir: Path, old: dict[str, Any], new: TrainOptions) -> tuple[str, ...]:
    """What a resumed run should tell: the settings that differ from the saved run (they
    apply from the resumed update on; model and optimizer state are kept), and a
    --max-update that the checkpoint has already reached.  New limits (--max-update,
    --max-epoch) are how a run is continued, so they are not listed as changes."""
    notes = []
    changed = [
        f"{_as_flag(key, old.get(key))} -> {value}"
        for key, value in asdict(new).items()
        if key not in (*RESUME_KEYS, "max_update", "max_epoch") and key in old
        and _comparable(old[key]) != _comparable(value)
    ]
    if changed:
        notes.append(f"changed from the saved run: {'; '.join(changed)}; they apply from the "
                     "resumed update on, the model, optimizer and data order are kept")
    log, reached = save_dir / "train.log", None
    if log.is_file():
        with log.open(encoding="utf-8", errors="replace") as lines:
            reached = last_saved_update(lines)
    if reached is not None and new.max_update is not None and new.max_update <= reached:
        notes.append(f"checkpoint_last.pt is at update {reached}, --max-update is "
                     f"{new.max_update}: nothing is left to train; raise --max-update to go on")
    return tuple(notes)


def _comparable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _effective(saved: dict[str, Any]) -> dict[str, Any]:
    """Saved options with the EA defaults filled in: runs of ea-mt 0.1.0 recorded None for
    an EA setting the user left at its default."""
    arch = saved.get("arch")
    if not (isinstance(arch, str) and presets.is_ea(arch)):
        return saved
    try:
        ea = EAConfig.resolve(saved.get("ea_alpha"), saved.get("ea_beta"),
                              saved.get("ea_kernel_size"), saved.get("ea_chains"),
                              saved.get("ea_ramp_updates"))
    except (TypeError, ValueError):
        return saved
    return {**saved, **ea.option_values()}


def _as_flag(key: str, value: object) -> str:
    flag = "--" + key.replace("_", "-")
    return f"{flag} {value}" if value is not None else f"{flag} left at its default"


def _command(
    wd: WorkDir, manifest: dict[str, Any], options: TrainOptions, device: str, save_dir: Path
) -> list[str]:
    preset = presets.PRESETS[presets.family(options.arch)]
    values: dict[str, object | None] = {
        "--user-dir": os.path.dirname(ea_mt.__file__),
        "--task": "translation",
        "--source-lang": manifest["src"],
        "--target-lang": manifest["tgt"],
        "--arch": options.arch,
        "--optimizer": "adam",
        "--adam-betas": "(0.9, 0.98)",
        "--lr": f"{options.lr:g}",
        "--lr-scheduler": "inverse_sqrt",
        "--warmup-updates": options.warmup,
        "--warmup-init-lr": "1e-07",
        "--criterion": "label_smoothed_cross_entropy",
        "--label-smoothing": "0.1",
        "--dropout": f"{options.dropout:g}",
        "--weight-decay": f"{preset.weight_decay:g}",
        "--clip-norm": f"{preset.clip_norm:g}",
        "--max-tokens": options.max_tokens,
        "--max-update": options.max_update,
        "--max-epoch": options.max_epoch,
        "--patience": options.patience,
        "--seed": options.seed,
        "--save-dir": save_dir,
        "--keep-last-epochs": options.keep_last,
        "--save-interval-updates": options.save_interval_updates,
        "--keep-interval-updates": options.keep_last if options.save_interval_updates else None,
        "--log-format": "json",
        "--log-interval": options.log_interval,
        # On a CPU a data-loading process only competes with training for the cores.
        "--num-workers": 0 if device == "cpu" else None,
        "--ea-alpha": options.ea_alpha,
        "--ea-beta": options.ea_beta,
        "--ea-kernel-size": options.ea_kernel_size,
        "--ea-chains": options.ea_chains,
        "--ea-ramp-updates": options.ea_ramp_updates,
    }
    if options.eval_bleu:
        values |= {
            "--eval-bleu-args": json.dumps(EVAL_BLEU_ARGS),
            "--eval-bleu-remove-bpe": "sentencepiece",
            "--best-checkpoint-metric": "bleu",
        }
    flags = ["--share-all-embeddings", "--skip-invalid-size-inputs-valid-test", "--no-progress-bar"]
    if options.eval_bleu:
        flags += ["--eval-bleu", "--maximize-best-checkpoint-metric"]
    # fairseq 0.12's --bf16 implies a TPU, so a GPU trains in fp16 with loss scaling.
    flags.append("--cpu" if device == "cpu" else "--fp16")
    command = [*_launcher(options.nproc), str(wd.data_bin), *flags]
    for flag, value in values.items():
        if value is not None:
            command += [flag, str(value)]
    return command + list(options.extra_args)


def _launcher(nproc: int) -> list[str]:
    """The command that starts fairseq-train: one process, or ``nproc`` DDP ranks."""
    if nproc == 1:
        return [sys.executable, "-m", "ea_mt.training.fairseq_train"]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node", str(nproc), "-m", "ea_mt.training.distributed"]


@contextmanager
def _forwarding_signals(process: subprocess.Popen) -> Iterator[list[int]]:
    """Pass the first SIGINT/SIGTERM on to fairseq-train as SIGINT; kill it on the second.

    Yields the list of signals received.  Outside the main thread (where Python cannot
    handle signals) nothing is installed.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if len(received) == 1:
            _signal_group(process, signal.SIGINT)
        else:
            _signal_group(process, signal.SIGKILL)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT,
                                                                       signal.SIGTERM)}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    """Signal fairseq-train's process group (it leads its own session)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _stop(process: subprocess.Popen) -> None:
    """Let fairseq-train save and stop on SIGINT, else kill it."""
    if process.poll() is not None:
        return
    _signal_group(process, signal.SIGINT)
    try:
        process.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()
