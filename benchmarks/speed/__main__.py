"""``python -m benchmarks.speed``: the grid, a profile, a report rewritten, or (internal)
one memory worker."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import torch

from benchmarks.common import command_line, dated_folder, log, write_json
from benchmarks.speed.grid import run_grid
from benchmarks.speed.markdown import profile_markdown, results_markdown
from benchmarks.speed.memory import memory_worker
from benchmarks.speed.options import PARTS, parser, settings_from
from benchmarks.speed.profiling import profile_training
from benchmarks.speed.report import write_outputs
from benchmarks.speed.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Run what the command line asks for; the grid by default."""
    # fairseq's imports configure the root logger at DEBUG level; keep stderr readable.
    logging.getLogger().setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    settings = settings_from(args)
    threads = args.threads
    if args.memory_worker:
        threads = json.loads(args.memory_worker)["threads"]
    if threads:
        torch.set_num_threads(threads)
    if args.memory_worker:
        print(json.dumps(memory_worker(json.loads(args.memory_worker))))
        return 0
    if args.report:
        results = json.loads((args.report / "results.json").read_text(encoding="utf-8"))
        write_outputs(results, args.report, final=True)
        return 0
    if args.profile:
        preset, length = args.profile[0], int(args.profile[1])
        print(write_profile(preset, length, settings, args.out or dated_folder("profile")))
        return 0
    parts = tuple(part for part in args.parts.split(",") if part)
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser().error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    out = args.out or dated_folder("speed-quick" if args.quick else "speed")
    results = run_grid(settings, parts, out, command_line("benchmarks.speed", argv))
    print(results_markdown(results))
    log(f"wrote {out}")
    return 0


def write_profile(preset: str, length: int, settings: Settings, out: Path) -> str:
    """Profile one training step of both models into ``out``; the Markdown report."""
    out.mkdir(parents=True, exist_ok=True)
    profile = profile_training(preset, length, settings)
    report = profile_markdown(profile)
    write_json(out / f"profile-{preset}-{length}.json", profile, indent=1)
    (out / f"profile-{preset}-{length}.md").write_text(report, encoding="utf-8")
    return report


if __name__ == "__main__":
    sys.exit(main())
