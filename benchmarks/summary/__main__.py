"""``python -m benchmarks.summary``: read quality reports, write one table over settings."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, command_line, fail, log, utc_now, write_json
from benchmarks.summary.bootstrap import LEVEL, RESAMPLES, SEED
from benchmarks.summary.compute import summarize, table_rows
from benchmarks.summary.markdown import markdown
from benchmarks.summary.plots import plot_delta_bleu
from benchmarks.summary.sources import settings_from_manifest, settings_from_reports


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.summary",
        description="One table of EA − vanilla test-set differences over settings, with "
                    "paired bootstrap intervals, from quality report folders.")
    parser.add_argument("reports", nargs="*", type=Path, metavar="REPORT_DIR",
                        help="quality report folders (benchmarks/results/quality-*)")
    parser.add_argument("--manifest", type=Path,
                        help="YAML/JSON naming each setting's report folders and pairs")
    parser.add_argument("--out", type=Path, default=RESULTS / "summary",
                        help="output folder (default: benchmarks/results/summary)")
    parser.add_argument("--resamples", type=int, default=RESAMPLES,
                        help=f"bootstrap resamples (default {RESAMPLES})")
    parser.add_argument("--seed", type=int, default=SEED,
                        help=f"bootstrap seed (default {SEED})")
    args = parser.parse_args(argv)
    if bool(args.reports) == bool(args.manifest):
        fail("give report folders or --manifest FILE (one of the two)")
    if args.resamples < 1:
        fail("--resamples must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Build and write the summary; returns it."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    settings = (settings_from_manifest(args.manifest) if args.manifest
                else settings_from_reports(args.reports))
    if not settings:
        fail("no setting has an EA run paired with a vanilla run: nothing to summarize")
    log(f"{len(settings)} setting(s): " + ", ".join(
        f"{s.name} ({len(s.pairs)} seeds)" for s in settings))
    summary = {"command": command_line("benchmarks.summary", argv), "date": utc_now(),
               "resamples": args.resamples, "seed": args.seed, "level": LEVEL,
               **summarize(settings, args.resamples, args.seed)}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "summary.json", summary)
    plotted = plot_delta_bleu(table_rows(summary), args.out / "delta_bleu.png")
    (args.out / "summary.md").write_text(markdown(summary, plotted), encoding="utf-8")
    log(f"summary: {args.out / 'summary.md'}")
    return summary


if __name__ == "__main__":
    main()
