"""The command line: its options, and the settings and profile they resolve to."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, RUNS, command_line, fail
from benchmarks.quality.experiment import MULTI30K, PROFILES, QUICK, SWEEP_KEYS, VARIANTS, Profile

UPGRADE_DEFAULT = "vanilla-s1"  # --upgrade-from without a value: that run's best checkpoint
BEST = "checkpoint_best.pt"


@dataclass(frozen=True)
class Upgrade:
    """The upgrade experiment: the vanilla checkpoint it starts from, the optional ramp."""

    checkpoint: Path
    ramp_updates: int | None = None


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
    upgrade: Upgrade | None = None

    @property
    def models(self) -> Path:
        """Where each run's model directory lies."""
        return self.workdir / "models"


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
    parser.add_argument("--profile", choices=tuple(PROFILES),
                        help="model size, training budget and default runs (default "
                        f"{MULTI30K.name}; see benchmarks/quality/experiment.py)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: tiny model, 100 updates, 2000 training pairs "
                        "(--profile quick)")
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
    parser.add_argument("--name", help="data set name, which names the default --workdir and "
                        "--out (default: the train prefix's folder); it does not pick the "
                        "profile")
    parser.add_argument("--workdir", type=Path,
                        help="prepared data and models (default: runs/quality/NAME.SRC-TGT)")
    parser.add_argument("--out", type=Path,
                        help="report folder (default: benchmarks/results/quality-NAME)")
    parser.add_argument("--upgrade-from", nargs="?", const=UPGRADE_DEFAULT, metavar="SOURCE",
                        help="the upgrade experiment instead: from a trained vanilla model "
                        "(a checkpoint file, or a run of --workdir whose checkpoint_best.pt "
                        f"it is; default {UPGRADE_DEFAULT}) train vanilla on and EA "
                        "warm-started, each for --max-update further updates")
    parser.add_argument("--ramp-updates", type=int, metavar="N",
                        help="with --upgrade-from: also train EA warm-started with "
                        "--ea-ramp-updates N (α and β raised from 0 over N updates)")
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
    # Each profile its own work directory and report: runs of another profile are not reused.
    kind = "" if profile.name == MULTI30K.name else f"-{profile.name}"
    tag = f"{name}.{args.src}-{args.tgt}{kind}"
    upgraded = "-upgrade" if args.upgrade_from else ""
    default_out = RESULTS / (f"quality-quick{upgraded}" if profile.name == QUICK.name
                             else f"quality-{name}{kind}{upgraded}")
    workdir = (args.workdir or RUNS / "quality" / tag).resolve()
    return Settings(
        src=args.src,
        tgt=args.tgt,
        data={"train": args.train, "valid": args.valid, "test": args.test},
        name=name,
        workdir=workdir,
        out=(args.out or default_out).resolve(),
        profile=profile,
        threads=args.threads,
        jobs=args.jobs,
        command=command_line("benchmarks.quality", argv),
        upgrade=upgrade_from(args, workdir),
    )


def upgrade_from(args: argparse.Namespace, workdir: Path) -> Upgrade | None:
    """The upgrade experiment's start: a checkpoint file, or a run of the work directory."""
    if args.ramp_updates is not None and (not args.upgrade_from or args.ramp_updates < 1):
        fail("--ramp-updates N needs --upgrade-from and a positive N")
    if not args.upgrade_from:
        return None
    if args.variants or args.sweep:
        fail("--variants and --sweep do not apply to --upgrade-from, which trains its own runs")
    source = Path(args.upgrade_from)
    checkpoint = source if source.suffix == ".pt" else workdir / "models" / source / BEST
    if not checkpoint.is_file():
        fail(f"--upgrade-from {args.upgrade_from}: no checkpoint {checkpoint} (give a .pt "
             "file or a trained run of --workdir, e.g. vanilla-s1)")
    return Upgrade(checkpoint.resolve(), args.ramp_updates)


def profile_from(args: argparse.Namespace) -> Profile:
    """The profile with the command line's changes, checked (the upgrade experiment runs
    at the first seed unless --seeds says otherwise)."""
    chosen = getattr(args, "profile", None)
    if args.quick and chosen not in (None, QUICK.name):
        fail(f"--quick is --profile {QUICK.name}, not --profile {chosen}")
    profile = QUICK if args.quick else PROFILES[chosen or MULTI30K.name]
    changes: dict[str, Any] = {}
    if getattr(args, "upgrade_from", None):
        changes |= {"seeds": profile.seeds[:1], "sweep": ()}
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
