"""``python -m benchmarks.quality``: prepare, plan, train and score every run, then report."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import ea_mt_command, load_average, log
from benchmarks.quality.options import Settings, parse_args, settings_from
from benchmarks.quality.plan import Run, plan_runs, plan_upgrade
from benchmarks.quality.report import build_report, check_out, write_report
from benchmarks.quality.run import (
    check_start,
    evaluate_start,
    execute_all,
    prepare,
    score_pairs,
    score_upgrade,
)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and write the report."""
    argv = sys.argv[1:] if argv is None else list(argv)
    settings = settings_from(parse_args(argv), argv)
    check_out(settings)
    cli = ea_mt_command()
    started = time.time()
    load_start = load_average()
    files = prepare(settings, cli)
    if settings.upgrade is not None:
        report = upgrade(settings, files, cli, started, load_start)
    else:
        runs = plan_runs(settings.profile)
        log(f"{len(runs)} runs in {settings.models}: {', '.join(run.name for run in runs)}")
        records = execute_all(runs, settings, files, cli)
        pairs = score_pairs(runs, records, files["test"][1], cli, settings.workdir / "score.log")
        report = build_report(settings, runs, records, pairs, files, started, load_start)
    write_report(report, settings.out)
    log(f"report: {settings.out / 'report.md'}")


def upgrade(settings: Settings, files: dict[str, tuple[Path, Path]], cli: list[str],
            started: float, load_start: list[float]) -> dict[str, Any]:
    """The upgrade experiment: score the start, train its runs, test them against it."""
    assert settings.upgrade is not None
    check_start(settings.upgrade, settings)
    runs = plan_upgrade(settings.profile, settings.upgrade)
    log(f"upgrading {settings.upgrade.checkpoint}: {', '.join(run.name for run in runs)}")
    settings.models.mkdir(parents=True, exist_ok=True)
    start_run = Run("start", "start", settings.profile.seeds[0], settings.profile.arch_pair[1],
                    (), None, None, ("valid", "test"))
    start = evaluate_start(start_run, settings.upgrade, settings, files, cli)
    records = execute_all(runs, settings, files, cli)
    pairs = score_upgrade(runs, records, start, files["test"][1], cli,
                          settings.workdir / "score.log")
    report = build_report(settings, runs, records, [], files, started, load_start)
    report["upgrade"] = {"start": start, "pairs": pairs,
                         "ramp_updates": settings.upgrade.ramp_updates}
    return report


if __name__ == "__main__":
    main()
