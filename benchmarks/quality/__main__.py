"""``python -m benchmarks.quality``: prepare, plan, train and score every run, then report."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from benchmarks.common import ea_mt_command, load_average, log
from benchmarks.quality.options import parse_args, settings_from
from benchmarks.quality.plan import plan_runs
from benchmarks.quality.report import build_report, write_report
from benchmarks.quality.run import execute_all, prepare, score_pairs


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and write the report."""
    argv = sys.argv[1:] if argv is None else list(argv)
    settings = settings_from(parse_args(argv), argv)
    cli = ea_mt_command()
    started = time.time()
    load_start = load_average()
    files = prepare(settings, cli)
    runs = plan_runs(settings.profile)
    log(f"{len(runs)} runs in {settings.models}: {', '.join(run.name for run in runs)}")
    records = execute_all(runs, settings, files, cli)
    pairs = score_pairs(runs, records, files["test"][1], cli, settings.workdir / "score.log")
    report = build_report(settings, runs, records, pairs, started, load_start)
    write_report(report, settings.out)
    log(f"report: {settings.out / 'report.md'}")


if __name__ == "__main__":
    main()
