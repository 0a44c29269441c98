"""The command line: its options, and the settings they resolve to."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import benchmarks.speed
from benchmarks.common import REPO
from benchmarks.speed.settings import DEFAULT_DECODE_INPUT, QUICK, Settings

PARTS = ("training", "memory", "decoding", "steps")
DEFAULTS = Settings()


def parser() -> argparse.ArgumentParser:
    """The command line; its defaults are those of :class:`Settings`."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed",
                                description=benchmarks.speed.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="reduced grid (tiny+iwslt, lengths 16/64, few steps) for smoke tests")
    p.add_argument("--out", type=Path, help="output folder (default benchmarks/results/"
                                             "speed-<date>/, or profile-<date>/)")
    p.add_argument("--device", default=DEFAULTS.device,
                   help=f"cpu or cuda[:N] (default {DEFAULTS.device})")
    p.add_argument("--dtype", default=DEFAULTS.dtype, choices=("fp32", "bf16"),
                   help=f"bf16 runs under torch.autocast (default {DEFAULTS.dtype})")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default torch's)")
    p.add_argument("--decode-input", type=Path, default=DEFAULT_DECODE_INPUT,
                   help="source text to decode, one sentence a line (default the bundled "
                        f"sample's {DEFAULT_DECODE_INPUT.relative_to(REPO)}; decoding is "
                        "skipped if missing)")
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--presets", help="comma-separated presets (of tiny,iwslt,big)")
    p.add_argument("--lengths", help="comma-separated sentence lengths, e.g. 16,64,256")
    p.add_argument("--tokens", help="target tokens per training batch, e.g. iwslt=2048,big=512")
    p.add_argument("--steps", help="timed training steps per preset, e.g. iwslt=5,big=3")
    p.add_argument("--decode-limit", type=int, help="decode only the first N lines")
    p.add_argument("--step-rows", type=int,
                   help="rows (sentences × beam) of the per-step decoding timing "
                        f"(default {DEFAULTS.step_rows})")
    p.add_argument("--profile", nargs=2, metavar=("PRESET", "LENGTH"),
                   help="profile one training step of EA and vanilla instead of the grid")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="rewrite DIR's results.md and plots from its results.json, measure nothing")
    p.add_argument("--memory-worker", help=argparse.SUPPRESS)
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    """The full grid's settings (or the quick one's) with the command line's changes."""
    settings = QUICK if args.quick else Settings()
    overrides: dict[str, Any] = {"device": args.device, "dtype": args.dtype,
                                 "threads": args.threads, "decode_input": args.decode_input}
    if args.presets:
        overrides["presets"] = tuple(args.presets.split(","))
    if args.lengths:
        overrides["lengths"] = tuple(int(n) for n in args.lengths.split(","))
    if args.tokens:
        overrides["tokens"] = {**settings.tokens, **parse_pairs(args.tokens)}
    if args.steps:
        overrides["steps"] = {**settings.steps, **parse_pairs(args.steps)}
    if args.decode_limit:
        overrides["decode_limit"] = args.decode_limit
    if args.step_rows:
        overrides["step_rows"] = args.step_rows
    return replace(settings, **overrides)


def parse_pairs(text: str) -> dict[str, int]:
    """"iwslt=2048,big=512" → {"iwslt": 2048, "big": 512}."""
    pairs = (item.split("=", 1) for item in text.split(",") if item)
    return {name: int(value) for name, value in pairs}
