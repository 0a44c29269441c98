"""The command line and the settings it resolves to."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import benchmarks.decoding
from benchmarks.common import RUNS, SAMPLE
from ea_mt.bundled import bundled_models

PROG = "python -m benchmarks.decoding"
DEFAULT_SOURCE = SAMPLE / "test.en"  # the bundled sample; issue 14: Multi30k's test2016.en
# The bundled Tatoeba models: equal in size, so that a fresh clone measures with one command.
DEFAULT_EA = bundled_models().get("tatoeba-en-de-ea")
DEFAULT_VANILLA = bundled_models().get("tatoeba-en-de-vanilla")
DEFAULT_CT2_CACHE = RUNS / "ct2"  # converted models, git-ignored


@dataclass(frozen=True)
class Settings:
    """What one run measures."""

    ea: Path
    vanilla: Path
    source: Path
    reference: Path | None  # None: the source with the target language's suffix
    limit: int | None
    beams: tuple[int, ...]
    batches: tuple[int, ...]
    threads: tuple[int, ...]
    rounds: int
    ct2_cache: Path
    out: Path | None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=benchmarks.decoding.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ea", type=Path, default=DEFAULT_EA,
                   help="the EA model: a model directory or checkpoint (default the bundled "
                        "tatoeba-en-de-ea)")
    p.add_argument("--vanilla", type=Path, default=DEFAULT_VANILLA,
                   help="the vanilla model of equal size: a model directory or checkpoint "
                        "(default the bundled tatoeba-en-de-vanilla)")
    p.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                   help="source text, one sentence a line (default the bundled sample's "
                        "test.en)")
    p.add_argument("--reference", type=Path,
                   help="reference translations for BLEU (default the source with the "
                        "models' target language as suffix, e.g. test2016.de)")
    p.add_argument("--limit", type=int, help="the first N non-blank source lines only")
    p.add_argument("--beams", default="5,1", help="beam sizes (default 5,1)")
    p.add_argument("--batches", default="64,1", help="sentences per batch (default 64,1)")
    p.add_argument("--threads", default="1,2", help="CPU threads (default 1,2)")
    p.add_argument("--rounds", type=int, default=3, help="timed passes over the source "
                                                        "(default 3)")
    p.add_argument("--ct2-cache", type=Path, default=DEFAULT_CT2_CACHE,
                   help="where converted CTranslate2 models are kept (default runs/ct2/)")
    p.add_argument("--out", type=Path,
                   help="output folder (default benchmarks/results/decoding-DATE/)")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="rewrite DIR's results.md and ratios.png from its results.json, "
                        "measure nothing")
    p.add_argument("--memory-worker", type=Path, help=argparse.SUPPRESS)
    return p


def integers(p: argparse.ArgumentParser, option: str, text: str) -> tuple[int, ...]:
    """A comma-separated list of positive integers, or the parser's one-line error."""
    try:
        values = tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        p.error(f"{option} takes comma-separated integers, not {text!r}")
    if not values or min(values) < 1:
        p.error(f"{option} takes integers of at least 1, not {text!r}")
    return values


def settings_from(p: argparse.ArgumentParser, args: argparse.Namespace) -> Settings:
    """The settings of a measuring run; the parser's error for a missing or bad option."""
    for option, model in (("--ea", args.ea), ("--vanilla", args.vanilla)):
        if model is None:
            p.error(f"{option} is required: this install has no bundled model to default to")
        if not model.exists():
            p.error(f"{option} {model}: no such model directory or checkpoint")
    if not args.source.is_file():
        p.error(f"--source {args.source}: no such file")
    if args.limit is not None and args.limit < 1:
        p.error(f"--limit must be at least 1, not {args.limit}")
    if args.rounds < 1:
        p.error(f"--rounds must be at least 1, not {args.rounds}")
    return Settings(
        ea=args.ea, vanilla=args.vanilla, source=args.source, reference=args.reference,
        limit=args.limit,
        beams=integers(p, "--beams", args.beams),
        batches=integers(p, "--batches", args.batches),
        threads=integers(p, "--threads", args.threads),
        rounds=args.rounds, ct2_cache=args.ct2_cache, out=args.out,
    )
