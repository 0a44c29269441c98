"""Translation quality of EA vs vanilla fairseq Transformers of equal size (issue #4).

One command prepares the data once, trains the EA model and the vanilla Transformer of the
same size with identical settings and seeds, translates the test and validation sets and
scores them with sacreBLEU (BLEU, chrF) and the paired bootstrap test. Every step runs the
public CLI as a subprocess (``ea-mt prepare``, ``ea-mt train``, ``ea-mt evaluate``,
``ea-mt score --baseline``), so the same experiment can be repeated by hand on any data.

    python -m benchmarks.quality --src en --tgt de --train PREFIX --valid PREFIX \\
        --test PREFIX [--seeds 1,2] [--variants ea,vanilla,...] \\
        [--sweep alpha=0.3,0.5,0.7 beta=0.3,0.5,0.7] [--max-update N] [--patience N] \\
        [--jobs 2] [--quick]

Variants: ``ea`` and ``vanilla`` (every seed); the ablations ``ea-encoder-only``
(``--ea-chains encoder``), ``ea-decoder-only`` (``--ea-chains decoder``) and
``alpha-only`` (``--ea-beta 0``: residual mix of the maps, no convolution) at the first
seed only. ``--sweep`` trains EA at every α × β of the grid and every seed and scores it
on the validation set only, never on the test set; the report averages each point over the
seeds and weighs the best point against the defaults' seed-to-seed spread.
``--sweep`` may be repeated: the points are the union of the grids, so
``--sweep alpha=0.3,0.7 --sweep beta=0.3,0.7`` moves one weight at a time from the defaults.

Convergence. ``--patience N`` stops each run after N validations (every 500 updates)
without a better validation BLEU, with ``--max-update`` as the cap; the report says for
each run whether it stopped on patience or at the cap, its validation BLEU curve and how
much it gained over its last 1000 updates, and plots the curves (``valid_curves.png``).

Layout. ``--workdir`` (default ``runs/quality/NAME.SRC-TGT``, git-ignored) holds the one
``ea-mt prepare`` of the data set and a model directory per run,
``WORKDIR/models/RUN/`` (``ea-mt train --save-dir``), with its ``eval/`` outputs, its
``train.log`` and ``quality-run.json``, the run's record. A rerun reuses every run whose
record has the same ``ea-mt train`` options; with a higher ``--max-update`` it continues the
runs (``ea-mt train`` resumes from checkpoint_last.pt); other changes need another
``--workdir``. ``--out`` (default ``benchmarks/results/quality-NAME``) receives
``report.md``, ``report.json`` and ``bleu_per_seed.png``.

Profiles. ``multi30k`` (the default) is the model and budget chosen for Multi30k on a
2-core CPU, see ``MULTI30K``; ``--quick`` is a smoke test: a tiny model, 100 updates,
the first 2000/200/200 lines of the data, every variant and a two-point sweep.
``--arch-pair EA:VANILLA`` picks other architectures (at their own size unless
``--model-args`` gives one); ``--model-args '...'`` replaces the profile's size options
(raw fairseq-train options, passed after ``--``).

Time is wall-clock time of ``ea-mt train`` (startup and validations included); with
``--jobs 2`` two runs train side by side, one CPU thread each (``--threads``), the EA and
vanilla runs of one seed together, so both see the same load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

from ea_mt.models.config import DEFAULT_ALPHA, DEFAULT_BETA
from ea_mt.training.fairseq_log import LogLine, TrainStatus, parse

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
RECORD = "quality-run.json"
# ea-mt train options of each variant; None marks the vanilla architecture.
VARIANTS: dict[str, tuple[str, ...] | None] = {
    "ea": (),
    "vanilla": None,
    "ea-encoder-only": ("--ea-chains", "encoder"),
    "ea-decoder-only": ("--ea-chains", "decoder"),
    "alpha-only": ("--ea-beta", "0"),
}
MAIN_VARIANTS = ("ea", "vanilla")  # run at every seed; the others at the first seed
SWEEP_KEYS = ("alpha", "beta")
# Decoding for the scores: beam 5, output length capped as in training's validation BLEU.
EVAL_ARGS = ("--beam", "5", "--max-len-a", "1.2", "--max-len-b", "10")
METRICS = ("bleu", "chrf")
SIGNIFICANT = 0.05
CONVERGENCE_WINDOW = 1000  # updates: the report's "gain over the last N updates"
# Validate and save on the update schedule only (--save-interval-updates), not per epoch.
UPDATE_SCHEDULE = ("--validate-interval", "1000000", "--save-interval", "1000000")


@dataclass(frozen=True)
class Profile:
    """A model size, training budget and default experiment."""

    name: str
    arch_pair: tuple[str, str]
    model_args: tuple[str, ...]  # raw fairseq options setting the size; --model-args replaces
    train_args: tuple[str, ...]  # ea-mt train options shared by every run
    max_update: int
    vocab_size: int
    patience: int | None = None  # stop after N validations without a better valid BLEU
    seeds: tuple[int, ...] = (1, 2)
    variants: tuple[str, ...] = MAIN_VARIANTS
    sweep: tuple[dict[str, tuple[float, ...]], ...] = ()  # grids; their points are joined
    subset: tuple[int, int, int] | None = None  # first lines of train, valid, test


# Multi30k (29k short pairs, ~250 updates of 2048 tokens per epoch). The shape is a
# small Transformer that two CPU cores can train twice per seed within a session:
# 128-dim, FFN 256, 4 heads, 3+3 layers, shared embeddings (ea-mt train's tiny preset
# otherwise: dropout 0.1, label smoothing 0.1, Adam, clipping at 1, no weight decay),
# lr 3e-3 inverse-sqrt with 300 warm-up updates. Measured on the 2-core EPYC with one
# thread per model: 2000 updates (8 epochs) take ~30 min per model with two side by side
# (~22 min alone) and reach ~37 BLEU on test2016 (EA), with validation BLEU still rising
# ~2 points per 500 updates: the default compares the models at an equal, fixed budget.
# ``--max-update 8000 --patience 3`` trains them to convergence instead (70–90 min per model
# side by side: the best validation came at 4000–5000 updates for EA, 5000–7500 for
# vanilla; BENCHMARKS.md).
# The 256-dim/1024-FFN shape took 2.4 s per update (~80 min per model at 2000 updates),
# too long for two seeds, three ablations and a sweep.
# Validation BLEU (beam 4) every 500 updates picks checkpoint_best.pt.
MULTI30K = Profile(
    name="multi30k",
    arch_pair=("ea_transformer_tiny", "transformer_tiny"),
    model_args=(
        "--encoder-embed-dim", "128", "--decoder-embed-dim", "128",
        "--encoder-ffn-embed-dim", "256", "--decoder-ffn-embed-dim", "256",
        "--encoder-attention-heads", "4", "--decoder-attention-heads", "4",
        "--encoder-layers", "3", "--decoder-layers", "3",
    ),
    train_args=(
        "--lr", "3e-3", "--warmup", "300", "--max-tokens", "2048", "--dropout", "0.1",
        "--save-interval-updates", "500", "--keep-last", "1",
    ),
    max_update=2000,
    vocab_size=8000,
)
# A smoke test of the whole pipeline in a few minutes; its scores mean nothing.
QUICK = Profile(
    name="quick",
    arch_pair=("ea_transformer_tiny", "transformer_tiny"),
    model_args=(),
    train_args=(
        "--lr", "2e-3", "--warmup", "50", "--max-tokens", "1024", "--dropout", "0.1",
        "--save-interval-updates", "50", "--keep-last", "1",
    ),
    max_update=100,
    vocab_size=1000,
    variants=tuple(VARIANTS),
    sweep=({"alpha": (0.3, 0.7)},),
    subset=(2000, 200, 200),
)


@dataclass(frozen=True)
class Settings:
    """The experiment: data, where it goes, the profile with the command line's changes."""

    src: str
    tgt: str
    data: dict[str, Path]  # split -> raw prefix: train, valid, test
    name: str
    workdir: Path
    out: Path
    profile: Profile
    threads: int
    jobs: int
    command: str

    @property
    def models(self) -> Path:
        return self.workdir / "models"


@dataclass(frozen=True)
class Run:
    """One model to train and score."""

    name: str
    variant: str  # a key of VARIANTS, or "sweep"
    seed: int
    arch: str
    ea_args: tuple[str, ...]
    alpha: float | None  # effective EA weights (None for vanilla)
    beta: float | None
    splits: tuple[str, ...]  # evaluated sets: ("valid", "test") or, in the sweep, ("valid",)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and write the report."""
    argv = sys.argv[1:] if argv is None else list(argv)
    settings = settings_from(parse_args(argv), argv)
    cli = ea_mt_command()
    started = time.time()
    load_start = os.getloadavg()
    files = prepare(settings, cli)
    runs = plan_runs(settings.profile)
    log(f"{len(runs)} runs in {settings.models}: {', '.join(run.name for run in runs)}")
    records = execute_all(runs, settings, files, cli)
    pairs = score_pairs(runs, records, files["test"][1], cli, settings.workdir / "score.log")
    report = build_report(settings, runs, records, pairs, started, load_start)
    write_report(report, settings.out)
    log(f"report: {settings.out / 'report.md'}")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality",
        description="Train, translate and score EA vs vanilla Transformers of equal size.",
    )
    parser.add_argument("--src", required=True, help="source language (file suffix)")
    parser.add_argument("--tgt", required=True, help="target language (file suffix)")
    for split in ("train", "valid", "test"):
        parser.add_argument(f"--{split}", required=True, type=Path, metavar="PREFIX",
                            help=f"{split} corpus: PREFIX.SRC and PREFIX.TGT, raw text")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: tiny model, 100 updates, 2000 training pairs")
    parser.add_argument("--seeds", help="comma-separated seeds (default: 1,2)")
    parser.add_argument("--variants", help=f"comma-separated, of {', '.join(VARIANTS)} "
                        "(default: ea,vanilla; --quick: all)")
    parser.add_argument("--sweep", nargs="+", action="append", metavar="KEY=V1,V2",
                        help="EA grid on the validation set, e.g. alpha=0.3,0.5,0.7 "
                        "beta=0.3,0.5,0.7; repeat it to join several grids")
    parser.add_argument("--max-update", type=int, help="training updates per model")
    parser.add_argument("--patience", type=int, metavar="N",
                        help="train to convergence: stop a run after N validations without "
                        "a better validation BLEU (--max-update stays the cap)")
    parser.add_argument("--arch-pair", metavar="EA:VANILLA",
                        help="architectures to compare (default: the profile's)")
    parser.add_argument("--model-args", metavar="'ARGS'",
                        help="raw fairseq-train options for the model size, replacing the "
                        "profile's (with --arch-pair: none by default); write "
                        "--model-args='--encoder-layers 3 ...'")
    parser.add_argument("--name", help="data set name (default: the train prefix's folder)")
    parser.add_argument("--workdir", type=Path,
                        help="prepared data and models (default: runs/quality/NAME.SRC-TGT)")
    parser.add_argument("--out", type=Path,
                        help="report folder (default: benchmarks/results/quality-NAME)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per model")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained side by side")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace, argv: Sequence[str]) -> Settings:
    """Resolve the profile and the paths from the command line."""
    profile = profile_from(args)
    if args.valid.name == args.test.name:
        fail(f"--valid and --test must have different file names ({args.valid.name}): "
             "ea-mt evaluate names its outputs after them")
    if args.threads < 1 or args.jobs < 1:
        fail("--threads and --jobs must be at least 1")
    name = args.name or args.train.resolve().parent.name
    tag = f"{name}.{args.src}-{args.tgt}" + ("-quick" if args.quick else "")
    default_out = RESULTS / ("quality-quick" if args.quick else f"quality-{name}")
    return Settings(
        src=args.src,
        tgt=args.tgt,
        data={"train": args.train, "valid": args.valid, "test": args.test},
        name=name,
        workdir=(args.workdir or REPO / "runs" / "quality" / tag).resolve(),
        out=(args.out or default_out).resolve(),
        profile=profile,
        threads=args.threads,
        jobs=args.jobs,
        command=shlex.join(["python", "-m", "benchmarks.quality", *argv]),
    )


def profile_from(args: argparse.Namespace) -> Profile:
    """The profile with the command line's changes, checked."""
    profile = QUICK if args.quick else MULTI30K
    changes: dict[str, Any] = {}
    if args.arch_pair:
        ea, sep, vanilla = args.arch_pair.partition(":")
        if not (sep and ea.startswith("ea_") and vanilla and not vanilla.startswith("ea_")):
            fail(f"--arch-pair must read EA:VANILLA, e.g. "
                 f"ea_transformer_iwslt_de_en:transformer_iwslt_de_en, not {args.arch_pair!r}")
        changes |= {"arch_pair": (ea, vanilla), "model_args": ()}
    if args.model_args is not None:
        changes["model_args"] = tuple(shlex.split(args.model_args))
    if args.max_update is not None:
        if args.max_update < 1:
            fail("--max-update must be positive")
        changes["max_update"] = args.max_update
    if args.patience is not None:
        if args.patience < 1:
            fail("--patience must be positive")
        changes["patience"] = args.patience
    if args.seeds:
        changes["seeds"] = parse_seeds(args.seeds)
    if args.variants:
        changes["variants"] = parse_variants(args.variants)
    if args.sweep:
        changes["sweep"] = tuple(parse_sweep(grid) for grid in args.sweep)
    return replace(profile, **changes)


def parse_seeds(text: str) -> tuple[int, ...]:
    """``1,2`` -> (1, 2)."""
    try:
        seeds = tuple(dict.fromkeys(int(part) for part in text.split(",")))
    except ValueError:
        fail(f"--seeds takes comma-separated integers, not {text!r}")
    return seeds


def parse_variants(text: str) -> tuple[str, ...]:
    """Variant names, checked against VARIANTS."""
    variants = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        fail(f"--variants: unknown {', '.join(unknown) or 'empty list'}; "
             f"choose from {', '.join(VARIANTS)}")
    return variants


def parse_sweep(items: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """``["alpha=0.3,0.7", "beta=0.5"]`` -> {"alpha": (0.3, 0.7), "beta": (0.5,)}."""
    grid: dict[str, tuple[float, ...]] = {}
    for item in items:
        key, _, values = item.partition("=")
        if key not in SWEEP_KEYS or not values:
            fail(f"--sweep takes KEY=V1,V2,... with KEY one of {', '.join(SWEEP_KEYS)}, "
                 f"not {item!r}")
        try:
            grid[key] = tuple(dict.fromkeys(float(v) for v in values.split(",")))
        except ValueError:
            fail(f"--sweep {item!r}: values must be numbers")
    return grid


def plan_runs(profile: Profile) -> list[Run]:
    """EA, vanilla and the sweep at every seed, ablations at the first; no name twice."""
    first = profile.seeds[0]
    runs = [variant_run(v, seed, profile) for seed in profile.seeds
            for v in MAIN_VARIANTS if v in profile.variants]
    runs += [variant_run(v, first, profile) for v in VARIANTS
             if v not in MAIN_VARIANTS and v in profile.variants]
    runs += [sweep_run(alpha, beta, seed, profile) for seed in profile.seeds
             for alpha, beta in sweep_grid(profile)]
    unique: dict[str, Run] = {}
    for run in runs:
        unique.setdefault(run.name, run)
    return list(unique.values())


def variant_run(variant: str, seed: int, profile: Profile) -> Run:
    """The run of one variant at one seed."""
    ea_args = VARIANTS[variant]
    ea_arch, vanilla_arch = profile.arch_pair
    if ea_args is None:
        return Run(f"{variant}-s{seed}", variant, seed, vanilla_arch, (), None, None,
                   ("valid", "test"))
    beta = 0.0 if variant == "alpha-only" else DEFAULT_BETA
    return Run(f"{variant}-s{seed}", variant, seed, ea_arch, ea_args, DEFAULT_ALPHA, beta,
               ("valid", "test"))


def sweep_grid(profile: Profile) -> list[tuple[float, float]]:
    """(α, β) points of the sweep's grids, each once; a key not swept stays at its default."""
    points: dict[tuple[float, float], None] = {}
    for grid in profile.sweep:
        alphas = grid.get("alpha", (DEFAULT_ALPHA,))
        betas = grid.get("beta", (DEFAULT_BETA,))
        points.update(dict.fromkeys(itertools.product(alphas, betas)))
    return list(points)


def sweep_run(alpha: float, beta: float, seed: int, profile: Profile) -> Run:
    """A sweep point, scored on the validation set only; at the defaults it is the EA run."""
    if (alpha, beta) == (DEFAULT_ALPHA, DEFAULT_BETA):
        return replace(variant_run("ea", seed, profile), splits=("valid",))
    return Run(f"sweep-a{alpha:g}-b{beta:g}-s{seed}", "sweep", seed, profile.arch_pair[0],
               ("--ea-alpha", f"{alpha:g}", "--ea-beta", f"{beta:g}"), alpha, beta, ("valid",))


def ea_mt_command() -> list[str]:
    """The ``ea-mt`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "ea-mt"
    found = str(script) if script.is_file() else shutil.which("ea-mt")
    if found is None:
        fail("ea-mt is not installed here; run 'make install' and use .venv/bin/python")
    return [found]


def prepare(settings: Settings, cli: list[str]) -> dict[str, tuple[Path, Path]]:
    """``ea-mt prepare`` once per data set; returns split -> (source file, reference file)."""
    data = subset_data(settings) if settings.profile.subset else settings.data
    for prefix in data.values():
        for lang in (settings.src, settings.tgt):
            if not Path(f"{prefix}.{lang}").is_file():
                fail(f"{prefix}.{lang}: no such file")
    settings.workdir.mkdir(parents=True, exist_ok=True)
    log(f"preparing {settings.name} in {settings.workdir}")
    run_cli(cli, [
        "prepare", "--src", settings.src, "--tgt", settings.tgt, "-w", str(settings.workdir),
        "--train", str(data["train"]), "--valid", str(data["valid"]), "--test", str(data["test"]),
        "--vocab-size", str(settings.profile.vocab_size), "-q",
    ], settings.workdir / "prepare.log")
    return {split: (Path(f"{prefix}.{settings.src}"), Path(f"{prefix}.{settings.tgt}"))
            for split, prefix in data.items() if split != "train"}


def subset_data(settings: Settings) -> dict[str, Path]:
    """The first lines of each file, in WORKDIR/data (``--quick``)."""
    assert settings.profile.subset is not None
    folder = settings.workdir / "data"
    folder.mkdir(parents=True, exist_ok=True)
    prefixes = {}
    for (split, prefix), lines in zip(settings.data.items(), settings.profile.subset,
                                      strict=True):
        name = prefix.name
        for lang in (settings.src, settings.tgt):
            with open(f"{prefix}.{lang}", encoding="utf-8", newline="") as source:
                head = list(itertools.islice(source, lines))
            (folder / f"{name}.{lang}").write_text("".join(head), encoding="utf-8")
        prefixes[split] = folder / name
    return prefixes


def execute_all(runs: list[Run], settings: Settings, files: dict[str, tuple[Path, Path]],
                cli: list[str]) -> dict[str, dict[str, Any]]:
    """Every run's record, ``--jobs`` runs at a time; the first failure cancels the rest."""
    settings.models.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
        futures = {run.name: pool.submit(execute, run, settings, files, cli) for run in runs}
        try:
            return {name: future.result() for name, future in futures.items()}
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def execute(run: Run, settings: Settings, files: dict[str, tuple[Path, Path]],
            cli: list[str]) -> dict[str, Any]:
    """Train (unless its record says it is done), evaluate the run's sets, keep a record."""
    model_dir = settings.models / run.name
    record = read_record(model_dir)
    args = train_args(run, settings)
    if not trained_as(record, run, args) or record.get("max_update") != settings.profile.max_update:
        record = train(run, settings, record, cli)
        write_record(model_dir, record)
    for split in run.splits:
        if split not in record["scores"]:
            record["scores"][split] = evaluate(run, model_dir, files[split], settings, cli)
            write_record(model_dir, record)
    return record


def train_args(run: Run, settings: Settings) -> list[str]:
    """``ea-mt train`` options that decide the model (no --max-update, threads or paths)."""
    profile = settings.profile
    patience = ("--patience", str(profile.patience)) if profile.patience else ()
    return ["--arch", run.arch, "--seed", str(run.seed), *profile.train_args, *patience,
            *run.ea_args, "--", *profile.model_args, *UPDATE_SCHEDULE]


def trained_as(record: dict[str, Any], run: Run, args: list[str]) -> bool:
    """Whether a run's record was trained with these options and this α and β (the EA run
    leaves them at the model's defaults, so a changed default must not reuse it)."""
    kept = record.get("run", {})
    return (record.get("train_args") == args
            and (kept.get("alpha"), kept.get("beta")) == (run.alpha, run.beta))


def train(run: Run, settings: Settings, record: dict[str, Any],
          cli: list[str]) -> dict[str, Any]:
    """Run ``ea-mt train`` into the run's model directory (a new run, or a longer one)."""
    model_dir = settings.models / run.name
    args = train_args(run, settings)
    max_update = settings.profile.max_update
    if record and (not trained_as(record, run, args) or record["max_update"] > max_update):
        kept = record.get("run", {})
        fail(f"{model_dir} was trained with other options or more updates "
             f"({shlex.join(record['train_args'])}, --max-update {record['max_update']}, "
             f"α {kept.get('alpha')}, β {kept.get('beta')}); choose another --workdir")
    interrupted = not record and (model_dir / "checkpoint_last.pt").is_file()
    options, raw = args[:args.index("--")], args[args.index("--"):]
    command = ["train", *options, "--max-update", str(max_update), "-w", str(settings.workdir),
               "--save-dir", str(model_dir), "--threads", str(settings.threads), "-q", *raw]
    log(f"{run.name}: training {shlex.join([run.arch, *run.ea_args])} to {max_update} "
        f"updates (log: {model_dir / 'train.log'})")
    start = time.monotonic()
    run_cli(cli, command, settings.models / f"{run.name}.log")
    seconds = time.monotonic() - start
    status = train_status(model_dir / "train.log")
    log(f"{run.name}: {status.num_updates} updates in {seconds / 60:.1f} min, "
        f"best valid BLEU {status.best}")
    return {
        "run": asdict(run),
        "train_args": args,
        "max_update": max_update,
        "train_command": shlex.join(["ea-mt", *command]),
        "train_seconds": record.get("train_seconds", 0.0) + seconds,
        "train_seconds_partial": interrupted or record.get("train_seconds_partial", False),
        "updates": status.num_updates,
        "epochs": status.epochs_done,
        "best_valid_bleu": status.best,
        "scores": {},
    }


def validation_curve(log_path: Path) -> list[tuple[int, float]]:
    """(updates, validation BLEU) at every validation in fairseq's log, in order."""
    curve: dict[int, float] = {}
    for line in parsed_log(log_path):
        if line.source == "valid" and {"valid_bleu", "valid_num_updates"} <= line.stats.keys():
            curve[int(line.stats["valid_num_updates"])] = line.stats["valid_bleu"]
    return sorted(curve.items())


def convergence(log_path: Path, max_update: int,
                window: int = CONVERGENCE_WINDOW) -> dict[str, Any]:
    """How a run ended: its validation curve, where its best was, and whether it stopped
    on patience (before the cap) or at ``--max-update``; ``gain`` is the best validation
    BLEU minus the best up to ``window`` updates before the end (None if it ran less)."""
    curve = validation_curve(log_path)
    if not curve:
        return {"curve": [], "stopped": None, "best_at": None, "gain": None,
                "window": window}
    last = curve[-1][0]
    best_at, best = max(curve, key=lambda point: (point[1], -point[0]))
    earlier = [bleu for updates, bleu in curve if updates <= last - window]
    return {
        "curve": curve,
        "stopped": "patience" if last < max_update else "max-update",
        "best_at": best_at,
        "gain": best - max(earlier) if earlier else None,
        "window": window,
    }


def train_status(log_path: Path) -> TrainStatus:
    """Updates and best validation BLEU from fairseq's log (every segment of it)."""
    status = TrainStatus(best_metric="bleu")
    for line in parsed_log(log_path):
        status.update(line)
    return status


def parsed_log(log_path: Path) -> Iterator[LogLine]:
    """fairseq's log, line by line, parsed."""
    with log_path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            yield parse(line)


def evaluate(run: Run, model_dir: Path, files: tuple[Path, Path], settings: Settings,
             cli: list[str]) -> dict[str, Any]:
    """``ea-mt evaluate`` of checkpoint_best.pt on one set: scores and the hypotheses."""
    src, ref = files
    output = run_cli(cli, [
        "evaluate", "--src", str(src), "--ref", str(ref), "--checkpoint",
        str(model_dir / "checkpoint_best.pt"), "-m", ",".join(METRICS), *EVAL_ARGS,
        "--threads", str(settings.threads), "--json", "-q",
    ], settings.models / f"{run.name}.log")
    report = json.loads(output)
    scores = {metric_key(s["metric"]): s for s in report["scores"]}
    result = {
        "hyp": report["hyp"],
        "translate_s": report["timing"]["translate_s"],
        "max_length_lines": len(report["warnings"]["max_length_lines"]),
        **{metric: scores[metric]["score"] for metric in METRICS},
        "signatures": {metric: scores[metric]["signature"] for metric in METRICS},
    }
    log(f"{run.name}: {src.name} BLEU {result['bleu']:.2f}, chrF {result['chrf']:.2f}")
    return result


def score_pairs(runs: list[Run], records: dict[str, dict[str, Any]], ref: Path,
                cli: list[str], log_path: Path) -> list[dict[str, Any]]:
    """Each EA-family run scored on test against the vanilla run of its seed."""
    vanilla = {run.seed: run.name for run in runs if run.variant == "vanilla"}
    pairs = []
    for run in runs:
        if run.variant == "vanilla" or "test" not in run.splits or run.seed not in vanilla:
            continue
        baseline = records[vanilla[run.seed]]["scores"]["test"]["hyp"]
        output = run_cli(cli, [
            "score", "--ref", str(ref), "--hyp", records[run.name]["scores"]["test"]["hyp"],
            "--baseline", baseline, "-m", ",".join(METRICS), "--json",
        ], log_path)
        pairs.append({"run": run.name, "variant": run.variant, "seed": run.seed,
                      "baseline": vanilla[run.seed], **json.loads(output)})
    return pairs


def run_cli(cli: list[str], args: list[str], log_path: Path) -> str:
    """Run ``ea-mt ARGS``: stdout is returned, stderr appended to ``log_path``."""
    with log_path.open("a", encoding="utf-8") as stderr:
        stderr.write(f"$ ea-mt {shlex.join(args)}\n")
        stderr.flush()
        done = subprocess.run([*cli, *args], stdout=subprocess.PIPE, stderr=stderr, text=True,
                              encoding="utf-8", check=False)
    if done.returncode != 0:
        fail(f"'ea-mt {shlex.join(args)}' failed (exit {done.returncode}); end of "
             f"{log_path}:\n{last_lines(log_path)}")
    return done.stdout


def last_lines(path: Path, count: int = 5) -> str:
    """The end of a log, to quote in an error."""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-count:])


def read_record(model_dir: Path) -> dict[str, Any]:
    """The run's record, or {} before it finished training."""
    path = model_dir / RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_record(model_dir: Path, record: dict[str, Any]) -> None:
    """Keep the record next to the model."""
    (model_dir / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def build_report(settings: Settings, runs: list[Run], records: dict[str, dict[str, Any]],
                 pairs: list[dict[str, Any]], started: float,
                 load_start: tuple[float, ...]) -> dict[str, Any]:
    """Everything the Markdown report shows, JSON-ready."""
    manifest = json.loads((settings.workdir / "prepare.json").read_text(encoding="utf-8"))
    return {
        "command": settings.command,
        "date": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        "wall_minutes": round((time.time() - started) / 60, 1),
        "machine": machine(load_start),
        "data": {"name": settings.name, "src": settings.src, "tgt": settings.tgt,
                 "files": {split: str(path) for split, path in settings.data.items()},
                 "subset_lines": settings.profile.subset,
                 "pairs": {split: c["kept"] for split, c in manifest["counts"].items()},
                 "vocab_size": settings.profile.vocab_size},
        "profile": {**asdict(settings.profile), "eval_args": EVAL_ARGS,
                    "threads": settings.threads, "jobs": settings.jobs},
        "workdir": str(settings.workdir),
        "runs": [{**records[run.name], "run": asdict(run),
                  "convergence": convergence(settings.models / run.name / "train.log",
                                             records[run.name]["max_update"])}
                 for run in runs],
        "pairs": pairs,
        "means": seed_means(runs, records, pairs),
        "sweep": sweep_summary(settings.profile, runs, records),
    }


def machine(load_start: tuple[float, ...]) -> dict[str, Any]:
    """Where and with what it ran."""
    versions = {name: metadata.version(name) for name in ("torch", "ve-fairseq", "sacrebleu",
                                                            "ea-mt")}
    return {"cpu": cpu_model(), "cores": os.cpu_count(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "versions": versions}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else the machine type."""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.machine()


def seed_means(runs: list[Run], records: dict[str, dict[str, Any]],
               pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Test scores of EA and vanilla averaged over seeds, and the mean differences."""
    means: dict[str, Any] = {}
    for variant in MAIN_VARIANTS:
        tested = [records[r.name]["scores"]["test"] for r in runs
                  if r.variant == variant and "test" in records[r.name]["scores"]]
        if tested:
            means[variant] = {m: mean_sd([t[m] for t in tested]) for m in METRICS}
    ea_pairs = [p for p in pairs if p["variant"] == "ea"]
    if ea_pairs:
        means["delta"] = {m: mean_sd([delta(p, m) for p in ea_pairs]) for m in METRICS}
        means["significant_wins"] = sum(
            delta(p, "bleu") > 0 and significance(p, "bleu")["p_value"] < SIGNIFICANT
            for p in ea_pairs)
        means["seeds"] = len(ea_pairs)
    return means


def mean_sd(values: list[float]) -> dict[str, float | None]:
    """Mean and sample standard deviation (None for one value)."""
    sd = statistics.stdev(values) if len(values) > 1 else None
    return {"mean": statistics.fmean(values), "sd": sd, "n": len(values)}


def significance(pair: dict[str, Any], metric: str) -> dict[str, Any]:
    """The paired test of one metric from an ``ea-mt score --json`` report."""
    score = next(s for s in pair["scores"] if metric_key(s["metric"]) == metric)
    return {"score": score["score"], **score["significance"]}


def metric_key(name: str) -> str:
    """Our key for a sacreBLEU metric name: BLEU -> bleu, chrF2 -> chrf."""
    return name.lower().rstrip("+0123456789")


def delta(pair: dict[str, Any], metric: str) -> float:
    """System minus baseline score."""
    test = significance(pair, metric)
    return test["score"] - test["baseline_score"]


def sweep_summary(profile: Profile, runs: list[Run],
                  records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Validation scores over the α × β grid, each point averaged over its seeds (the EA
    runs are the default point); ``seed_spread`` is the default point's max − min."""
    if not profile.sweep:
        return {}
    grouped: dict[tuple[float, float], list[Run]] = {}
    for run in runs:
        if run.variant in ("sweep", "ea") and run.alpha is not None and run.beta is not None:
            grouped.setdefault((run.alpha, run.beta), []).append(run)
    points = [sweep_point(point, [(run, records[run.name]) for run in seeded])
              for point, seeded in sorted(grouped.items())]
    default = [p for p in points if (p["alpha"], p["beta"]) == (DEFAULT_ALPHA, DEFAULT_BETA)]
    seeds = default[0]["valid_bleu_per_seed"] if default else []
    return {"points": points, "best": max(points, key=lambda p: p["valid_bleu"]),
            "default": default[0] if default else None,
            "seed_spread": max(seeds) - min(seeds) if len(seeds) > 1 else None}


def sweep_point(point: tuple[float, float],
                seeded: list[tuple[Run, dict[str, Any]]]) -> dict[str, Any]:
    """One grid point: α, β and its validation scores, the mean over its seeds and each."""
    valid = [record["scores"]["valid"] for _, record in seeded]
    return {"alpha": point[0], "beta": point[1], "runs": [run.name for run, _ in seeded],
            "seeds": [run.seed for run, _ in seeded],
            "valid_bleu": statistics.fmean(v["bleu"] for v in valid),
            "valid_bleu_per_seed": [v["bleu"] for v in valid],
            "valid_chrf": statistics.fmean(v["chrf"] for v in valid),
            "best_valid_bleu_training": statistics.fmean(
                record["best_valid_bleu"] for _, record in seeded)}


def write_report(report: dict[str, Any], out: Path) -> None:
    """report.json, report.md, bleu_per_seed.png and valid_curves.png in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plotted = plot_bleu_per_seed(report["runs"], out / "bleu_per_seed.png")
    curves_plotted = plot_valid_curves(report["runs"], out / "valid_curves.png")
    (out / "report.md").write_text(markdown(report, plotted, curves_plotted),
                                   encoding="utf-8")


def markdown(report: dict[str, Any], plotted: bool, curves_plotted: bool) -> str:
    """The Markdown report."""
    parts = [header(report), runs_table(report["runs"])]
    if report["pairs"]:
        parts.append(pairs_table(report["pairs"]))
    if "delta" in report["means"]:
        parts.append(means_table(report["means"]))
    if report["sweep"]:
        parts.append(sweep_table(report["sweep"]))
    if plotted:
        parts.append("![Test BLEU per seed, EA vs vanilla](bleu_per_seed.png)\n")
    parts.append(convergence_table(report["runs"]))
    if curves_plotted:
        parts.append("![Validation BLEU during training](valid_curves.png)\n")
    return "\n".join(parts)


def convergence_table(runs: list[dict[str, Any]]) -> str:
    """How each run ended, and the validation curves of the EA and vanilla runs."""
    window = CONVERGENCE_WINDOW
    rows = [[r["run"]["name"], r["updates"], r["convergence"]["stopped"] or "–",
             r["convergence"]["best_at"] or "–",
             "–" if r["convergence"]["gain"] is None else f"{r['convergence']['gain']:+.2f}"]
            for r in runs]
    text = ("## Convergence\n\nValidation BLEU during training (beam 4, every validation); "
            "*stopped*: on `--patience` or at `--max-update`.\n\n"
            + table(["run", "updates", "stopped", "best at update",
                     f"best gain over the last {window} updates"], rows))
    main = [r for r in runs if r["run"]["variant"] in MAIN_VARIANTS]
    points = sorted({u for r in main for u, _ in r["convergence"]["curve"]})
    bleu = {r["run"]["name"]: dict(r["convergence"]["curve"]) for r in main}
    curve_rows = [[u, *(fmt(bleu[name].get(u)) for name in bleu)] for u in points]
    if curve_rows:
        text += "\n" + table(["update", *bleu], curve_rows)
    return text


def plot_valid_curves(runs: list[dict[str, Any]], path: Path) -> bool:
    """Validation BLEU against updates of the EA and vanilla runs; False if none."""
    main = [r for r in runs
            if r["run"]["variant"] in MAIN_VARIANTS and r["convergence"]["curve"]]
    if not main:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for record in main:
        run = record["run"]
        updates, bleu = zip(*record["convergence"]["curve"], strict=True)
        ax.plot(updates, bleu, marker=".", color="C0" if run["variant"] == "ea" else "C1",
                linestyle=("-", "--", ":", "-.")[(run["seed"] - 1) % 4],
                label=f"{'EA' if run['variant'] == 'ea' else 'vanilla'}, seed {run['seed']}")
    ax.set_xlabel("updates")
    ax.set_ylabel("validation BLEU (beam 4)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def header(report: dict[str, Any]) -> str:
    """Title and the conditions of the experiment."""
    data, profile, host = report["data"], report["profile"], report["machine"]
    pairs = ", ".join(f"{split} {count}" for split, count in data["pairs"].items())
    subset = f" (first {'/'.join(map(str, data['subset_lines']))} lines)" \
        if data["subset_lines"] else ""
    signatures = report["runs"][0]["scores"]["valid"]["signatures"]
    ea, vanilla = profile["arch_pair"]
    versions = ", ".join(f"{k} {v}" for k, v in host["versions"].items())
    size = f"`{shlex.join(profile['model_args'])}`" if profile["model_args"] else "the arch's"
    patience = f" --patience {profile['patience']}" if profile.get("patience") else ""
    return "\n".join([
        f"# EA vs vanilla Transformer: quality on {data['name']} "
        f"({data['src']}→{data['tgt']})",
        "",
        f"- command: `{report['command']}`",
        f"- date: {report['date']}; wall time of this invocation {report['wall_minutes']} "
        "min (runs trained by an earlier one are reused: their training time is in the "
        "table); load average "
        f"at start/end {host['load_average_start']} / {host['load_average_end']}",
        f"- machine: {host['cpu']}, {host['cores']} cores; {profile['threads']} thread(s) per "
        f"model, {profile['jobs']} run(s) at a time; Python {host['python']}, {versions}",
        f"- data: {', '.join(data['files'].values())}{subset}; pairs after `ea-mt prepare`: "
        f"{pairs}; joint SentencePiece vocabulary {data['vocab_size']}",
        f"- profile: {profile['name']}" + (" (a smoke test of the pipeline: its scores mean "
                                           "nothing)" if profile["name"] == "quick" else ""),
        f"- models: `{ea}` vs `{vanilla}`, size: {size}; `ea-mt train "
        f"{shlex.join(profile['train_args'])}{patience} --max-update {profile['max_update']} -- "
        f"{shlex.join(UPDATE_SCHEDULE)}`",
        f"- scores: `ea-mt evaluate` of checkpoint_best.pt (picked by validation BLEU, beam 4, "
        f"during training), `{shlex.join(profile['eval_args'])}`; BLEU `{signatures['bleu']}`, "
        f"chrF `{signatures['chrf']}`; paired bootstrap: `ea-mt score --baseline` "
        "(sacreBLEU's, 1000 resamples, seed 12345)",
        "",
    ])


def runs_table(runs: list[dict[str, Any]]) -> str:
    """Per run: settings, training and scores."""
    rows = []
    for record in runs:
        run, scores = record["run"], record["scores"]
        minutes = f"{record['train_seconds'] / 60:.1f}"
        rows.append([
            run["name"], f"`{run['arch']}`", run["seed"], fmt(run["alpha"]), fmt(run["beta"]),
            chains(run), record["updates"], f"{record['epochs']:.1f}",
            ("≥ " if record["train_seconds_partial"] else "") + minutes,
            fmt(record["best_valid_bleu"]),
            *(fmt(scores.get(split, {}).get(m)) for split in ("valid", "test") for m in METRICS),
        ])
    return "## Runs\n\n" + table(
        ["run", "architecture", "seed", "α", "β", "EA chains", "updates", "epochs",
         "train min", "best valid BLEU (training)", "valid BLEU", "valid chrF", "test BLEU",
         "test chrF"], rows) + length_note(runs)


def length_note(runs: list[dict[str, Any]]) -> str:
    """How many translations the length limit cut, if any."""
    cut = {f"{record['run']['name']} {split}": scores["max_length_lines"]
           for record in runs for split, scores in record["scores"].items()
           if scores["max_length_lines"]}
    if not cut:
        return ""
    listed = ", ".join(f"{name} {count}" for name, count in cut.items())
    return f"\nTranslations stopped at the length limit: {listed}.\n"


def chains(run: dict[str, Any]) -> str:
    """The evolving chains of a run, from its ea-mt train options."""
    if run["alpha"] is None:
        return "–"
    options = dict(zip(run["ea_args"][::2], run["ea_args"][1::2], strict=True))
    return options.get("--ea-chains", "all")


def pairs_table(pairs: list[dict[str, Any]]) -> str:
    """Each EA-family run against the vanilla run of its seed, on test."""
    rows = []
    for pair in pairs:
        row: list[object] = [pair["run"], pair["seed"]]
        for metric in METRICS:
            test = significance(pair, metric)
            star = "*" if test["p_value"] < SIGNIFICANT else ""
            row += [fmt(test["score"]), fmt(test["baseline_score"]),
                    f"{delta(pair, metric):+.2f}", f"{test['p_value']:.4f}{star}"]
        rows.append(row)
    return "## Against vanilla, test set (paired bootstrap)\n\n" + table(
        ["run", "seed", "BLEU", "vanilla BLEU", "ΔBLEU", "p", "chrF", "vanilla chrF", "ΔchrF",
         "p"], rows) + f"\n\\* p < {SIGNIFICANT}: the difference from vanilla is significant.\n"


def means_table(means: dict[str, Any]) -> str:
    """EA and vanilla averaged over seeds."""
    labels = {"ea": "EA", "vanilla": "vanilla", "delta": "EA − vanilla"}
    rows = [[labels[key], means[key]["bleu"]["n"],
             *(mean_text(means[key][m], signed=key == "delta") for m in METRICS)]
            for key in labels if key in means]
    return "## Mean over seeds, test set\n\n" + table(
        ["system", "seeds", "BLEU (mean ± sd)", "chrF (mean ± sd)"], rows
    ) + (f"\nEA is better with p < {SIGNIFICANT} (BLEU) at {means['significant_wins']} of "
         f"{means['seeds']} seeds.\n")


def sweep_table(sweep: dict[str, Any]) -> str:
    """Validation BLEU over the grid, and the suggested defaults."""
    alphas = sorted({p["alpha"] for p in sweep["points"]})
    betas = sorted({p["beta"] for p in sweep["points"]})
    cell = {(p["alpha"], p["beta"]): p for p in sweep["points"]}
    rows = [[f"α = {a:g}", *(sweep_cell(cell[a, b]) if (a, b) in cell else "–"
                             for b in betas)] for a in alphas]
    return ("## α/β sweep, validation set only\n\nValid BLEU (`ea-mt evaluate`), the mean "
            "over the point's seeds, each seed's in brackets; the test set is not used.\n\n"
            + table(["", *(f"β = {b:g}" for b in betas)], rows) + f"\n{sweep_advice(sweep)}\n")


def sweep_cell(point: dict[str, Any]) -> str:
    """A grid cell: the mean validation BLEU, and every seed's where there are several."""
    per_seed = point["valid_bleu_per_seed"]
    seeds = f" ({', '.join(fmt(bleu) for bleu in per_seed)})" if len(per_seed) > 1 else ""
    return fmt(point["valid_bleu"]) + seeds


def sweep_advice(sweep: dict[str, Any]) -> str:
    """The best point, weighed against the defaults and the seed-to-seed spread of EA."""
    best, default, spread = sweep["best"], sweep["default"], sweep.get("seed_spread")
    advice = (f"Best point: α = {best['alpha']:g}, β = {best['beta']:g} "
              f"(valid BLEU {best['valid_bleu']:.2f})")
    if default is None or best is default:
        return advice + "."
    gain = best["valid_bleu"] - default["valid_bleu"]
    advice += (f", {gain:+.2f} over the defaults α = {DEFAULT_ALPHA:g}, β = {DEFAULT_BETA:g} "
               f"({default['valid_bleu']:.2f})")
    if spread is None:
        return (advice + "; with EA at one seed there is no seed-to-seed spread to weigh that "
                "against (--seeds 1,2 measures it).")
    verdict = "within" if gain <= spread else "more than"
    return advice + f", {verdict} the seed-to-seed spread of the defaults ({spread:.2f})."


def plot_bleu_per_seed(runs: list[dict[str, Any]], path: Path) -> bool:
    """Bars of test BLEU per seed, EA next to vanilla; False when there is nothing to pair."""
    bleu = {(r["run"]["variant"], r["run"]["seed"]): r["scores"]["test"]["bleu"]
            for r in runs if r["run"]["variant"] in MAIN_VARIANTS and "test" in r["scores"]}
    seeds = sorted({seed for _, seed in bleu})
    if not all((v, s) in bleu for v in MAIN_VARIANTS for s in seeds) or not seeds:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(seeds), 3.2))
    width = 0.38
    for offset, variant in ((-width / 2, "ea"), (width / 2, "vanilla")):
        xs = [i + offset for i in range(len(seeds))]
        bars = ax.bar(xs, [bleu[variant, s] for s in seeds], width,
                      label="EA" if variant == "ea" else "vanilla")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds])
    ax.set_ylabel("test BLEU")
    ax.margins(y=0.15)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def fmt(value: float | None) -> str:
    """A score with two decimals; – when absent."""
    return "–" if value is None else f"{value:.2f}"


def mean_text(stats: dict[str, float | None], signed: bool = False) -> str:
    """``mean ± sd`` (``mean`` for one seed); ``signed``: with the sign of a difference."""
    mean, sd = stats["mean"], stats["sd"]
    text = f"{mean:+.2f}" if signed else fmt(mean)
    return text + ("" if sd is None else f" ± {sd:.2f}")


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> NoReturn:
    """Stop with a one-line error."""
    raise SystemExit(f"error: {message}")


if __name__ == "__main__":
    main()
