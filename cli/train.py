"""The ``ea-mt train`` command: fairseq-train with presets, live progress and resume."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from ea_mt.cli.app import app
from ea_mt.cli.options import DeviceOption, ThreadsOption, WorkdirOption, given_here
from ea_mt.cli.progress import QuietOption, stderr_console
from ea_mt.training.fairseq_log import LogLine, TrainStatus
from ea_mt.training.options import TrainOptions
from ea_mt.training.presets import PRESETS
from ea_mt.training.train import TrainingInterrupted, TrainPlan, plan_training, run_training
from ea_mt.workdir import DEFAULT_WORKDIR

HELP = (
    "Train a translation model on the data 'ea-mt prepare' left in the work directory.\n\n"
    "fairseq-train runs with a preset per architecture family (Adam (0.9, 0.98), "
    "inverse-sqrt learning rate with warm-up, label smoothing 0.1, shared embeddings since "
    "the dictionary is joined); the options below override it, and options after -- go to "
    "fairseq-train unchanged. Validation BLEU (sacrebleu, beam 4) picks checkpoint_best.pt. "
    "Rerunning the command resumes from checkpoint_last.pt, e.g. with a higher --max-update. "
    "Ctrl-C or SIGTERM saves a checkpoint after the current update and stops (a second one "
    "stops at once); checkpoints are written atomically, so a killed run resumes from its "
    "last complete one. One run at a time may write a checkpoint directory. "
    "--nproc N trains with N DDP processes on this machine (torchrun; see the README for "
    "several machines). fairseq's full log is WORKDIR/checkpoints/train.log.\n\n"
    "Every run records its effective settings in SAVE_DIR/train_config.json; --config FILE "
    "(that file, or YAML with the same option names) trains with exactly those settings, "
    "options given on the command line overriding the file's. --print-config prints the "
    "effective settings as YAML and trains nothing."
)
DEFAULTS = TrainOptions()
PRESET_TEXT = "\n".join(
    f"{name:5} lr {p.lr:g}, warm-up {p.warmup}, dropout {p.dropout:g}, "
    f"tokens {p.max_tokens}, updates {p.max_update}"
    for name, p in PRESETS.items()
)
EXAMPLES = (
    "Examples:\n\n"
    "ea-mt train --arch ea_transformer_big --max-update 300000 --save-interval-updates 5000\n\n"
    "ea-mt train --arch transformer_iwslt_de_en --patience 10   (the vanilla baseline)\n\n"
    "ea-mt train --arch ea_transformer --ea-alpha 0.3 -- --update-freq 4 --max-tokens-valid 2000"
    "\n\n"
    "ea-mt train -w new-work --config ea-mt-work/checkpoints/train_config.json --seed 2\n\n"
    f"Presets (*_tiny, *iwslt*, *_big*, else base):\n{PRESET_TEXT}"
)


@app.command(
    "train",
    help=HELP,
    epilog=EXAMPLES,
    context_settings={"allow_extra_args": True},
)
def train_command(
    ctx: typer.Context,
    arch: Annotated[
        str, typer.Option("--arch", help="Architecture: ea_transformer* or transformer*.")
    ] = DEFAULTS.arch,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    save_dir: Annotated[
        Path | None,
        typer.Option("--save-dir", help="Checkpoint directory [default: WORKDIR/checkpoints]."),
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    warmup: Annotated[int | None, typer.Option("--warmup", help="Warm-up updates.")] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="Batch size in tokens.")
    ] = None,
    dropout: Annotated[float | None, typer.Option("--dropout", help="Dropout.")] = None,
    max_epoch: Annotated[
        int | None, typer.Option("--max-epoch", help="Stop after N epochs.")
    ] = None,
    max_update: Annotated[
        int | None, typer.Option("--max-update", help="Stop after N updates.")
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option("--patience", help="Stop after N validations without a better best."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = DEFAULTS.seed,
    ea_alpha: Annotated[
        float | None, typer.Option("--ea-alpha", help="EA: weight of the previous map.")
    ] = None,
    ea_beta: Annotated[
        float | None, typer.Option("--ea-beta", help="EA: weight of the convolution.")
    ] = None,
    ea_kernel_size: Annotated[
        int | None, typer.Option("--ea-kernel-size", help="EA: odd convolution size.")
    ] = None,
    ea_chains: Annotated[
        str | None,
        typer.Option("--ea-chains", help="EA: chains that evolve, of encoder,decoder,cross."),
    ] = None,
    ea_ramp_updates: Annotated[
        int | None,
        typer.Option("--ea-ramp-updates",
                     help="EA: raise α and β from 0 over the first N updates (0: off)."),
    ] = None,
    save_interval_updates: Annotated[
        int | None,
        typer.Option("--save-interval-updates", help="Also validate and save every N updates."),
    ] = None,
    keep_last: Annotated[
        int, typer.Option("--keep-last", help="Keep the last N epoch (and N update) checkpoints.")
    ] = DEFAULTS.keep_last,
    eval_bleu: Annotated[
        bool,
        typer.Option("--eval-bleu/--no-eval-bleu", help="Pick the best checkpoint on BLEU."),
    ] = DEFAULTS.eval_bleu,
    device: DeviceOption = DEFAULTS.device,
    log_interval: Annotated[
        int, typer.Option("--log-interval", help="Log training statistics every N updates.")
    ] = DEFAULTS.log_interval,
    threads: ThreadsOption = DEFAULTS.threads,
    nproc: Annotated[
        int,
        typer.Option("--nproc", help="DDP processes on this machine (one per GPU; CPU: gloo)."),
    ] = DEFAULTS.nproc,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Train with the settings of this train_config.json or "
                     "YAML file; options given here override it.", show_default=False),
    ] = None,
    print_config: Annotated[
        bool,
        typer.Option("--print-config",
                     help="Print the effective settings as YAML on stdout and exit."),
    ] = False,
    print_command: Annotated[
        bool,
        typer.Option("--print-command",
                     help="Print the fairseq command on stdout and exit (e.g. for torchrun)."),
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Build the run from the options, train, and report on stderr."""
    given = {name: value for name, value in ctx.params.items() if name in OPTION_FIELDS}
    if config is not None:
        from ea_mt.training.config_file import read_options

        given = {**read_options(config), **{
            name: value for name, value in given.items()
            if given_here(ctx, name)
        }}
        given["extra_args"] = (*given.get("extra_args", ()), *ctx.args)
    else:
        given["extra_args"] = tuple(ctx.args)
    options = TrainOptions(**given)
    plan = plan_training(workdir, options, save_dir)
    if print_command:
        print(shlex.join(plan.command))
        return
    if print_config:
        from ea_mt.training.config_file import dump_options

        print(dump_options(plan.options), end="")
        return
    console = stderr_console()
    if not quiet:
        action = "Resuming" if plan.resume else "Training"
        console.print(f"{action} {plan.options.arch} on {plan.device} in {plan.save_dir} "
                      f"(log: {plan.log_path})", soft_wrap=True)
    for note in plan.notes:
        console.print(f"ea-mt: note: {note}", markup=False, soft_wrap=True)
    display = TrainDisplay(plan, console, quiet)
    try:
        with display:
            status = run_training(plan, display.on_line)
    except TrainingInterrupted as stopped:
        console.print(f"Interrupted at update {stopped.status.num_updates}; rerun the same "
                      "command to resume from checkpoint_last.pt.")
        raise typer.Exit(128 + stopped.signum) from None
    console.print(summary(status, plan))


OPTION_FIELDS = frozenset(TrainOptions.__dataclass_fields__) - {"extra_args"}


class TrainDisplay:
    """Live progress on stderr: a status line, and one line per validation."""

    def __init__(self, plan: TrainPlan, console: Console, quiet: bool) -> None:
        self.plan = plan
        self.console = console
        self.quiet = quiet
        self.status = TrainStatus()
        self.pace_start: tuple[int, float] | None = None  # (updates, time) at the first log
        self.live = Live(Text(""), console=console, transient=True, auto_refresh=False)
        self.enabled = not quiet and console.is_terminal

    def __enter__(self) -> TrainDisplay:
        if self.enabled:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.live.__exit__(*exc)

    def on_line(self, line: LogLine, status: TrainStatus) -> None:
        """Take one fairseq log line."""
        self.status = status
        if self.pace_start is None and line.source == "train_inner":
            self.pace_start = (status.num_updates, time.monotonic())
        if self.quiet:
            return
        if line.source == "valid":
            self.console.print(self._validation_line(line.stats))
        if self.enabled and line.source in ("train_inner", "valid"):
            self.live.update(Text(self._status_line()), refresh=True)

    def _validation_line(self, stats: dict[str, float]) -> str:
        parts = [f"epoch {int(stats.get('epoch', 0))}",
                 f"update {int(stats.get('valid_num_updates', self.status.num_updates))}",
                 f"valid loss {stats.get('valid_loss', float('nan')):.3f}"]
        if "valid_bleu" in stats:
            parts.append(f"BLEU {stats['valid_bleu']:.2f}")
        if self.status.best is not None:
            parts.append(f"best {self.status.best:.2f}")
        return " | ".join(parts)

    def _status_line(self) -> str:
        s, options = self.status, self.plan.options
        train = s.train
        parts = [f"epoch {s.epoch}"]
        parts.append(f"update {s.num_updates}" + (f"/{options.max_update}"
                                                   if options.max_update else ""))
        if train:
            parts += [f"loss {train.get('loss', 0):.3f}", f"ppl {train.get('ppl', 0):.1f}",
                      f"lr {train.get('lr', 0):.2e}", f"{train.get('wps', 0):,.0f} words/s"]
        if s.best is not None:
            parts.append(f"best BLEU {s.best:.2f}" if options.eval_bleu
                         else f"best loss {s.best:.3f}")
        eta = self._eta()
        if eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        return " | ".join(parts)

    def _eta(self) -> float | None:
        """Seconds left against --max-update or --max-epoch, at this run's pace so far."""
        if self.pace_start is None:
            return None
        elapsed = time.monotonic() - self.pace_start[1]
        done = self.status.num_updates - self.pace_start[0]
        if elapsed <= 0 or done <= 0:
            return None
        left = []
        if self.plan.options.max_update:
            left.append((self.plan.options.max_update - self.status.num_updates) * elapsed / done)
        per_epoch = self.status.updates_per_epoch
        if self.plan.options.max_epoch and per_epoch:
            updates = (self.plan.options.max_epoch - self.status.epochs_done) * per_epoch
            left.append(updates * elapsed / done)
        return max(0.0, min(left)) if left else None


def summary(status: TrainStatus, plan: TrainPlan) -> str:
    """One closing line: where training stopped, the best score and the checkpoints."""
    best = ""
    if status.best is not None:
        metric = "BLEU" if plan.options.eval_bleu else "loss"
        best = f"; best valid {metric} {status.best:g}"
    return (f"Training stopped at update {status.num_updates} (epoch {status.epoch}){best}; "
            f"checkpoints in {plan.save_dir}")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
