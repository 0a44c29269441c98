"""``python -m benchmarks.decoding``: the benchmark, or (internal) one memory worker."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import suppress
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.common import (
    command_line,
    dated_folder,
    log,
    machine_description,
    utc_now,
    versions,
)
from benchmarks.decoding.options import parser, settings_from
from ea_mt.decoding.options import DecodeOptions

PACKAGES = ("torch", "ve-fairseq", "ctranslate2", "sentencepiece", "sacrebleu", "ea-mt")


def installed_versions() -> dict[str, str]:
    """The version of each of :data:`PACKAGES` that is installed (ctranslate2 may not be)."""
    found: dict[str, str] = {}
    for name in PACKAGES:
        with suppress(metadata.PackageNotFoundError):
            found |= versions(name)
    return found


def decoding_description(options: DecodeOptions = DecodeOptions()) -> str:  # noqa: B008
    return (f"lenpen {options.lenpen}, max_len_a {options.max_len_a}, max_len_b "
            f"{options.max_len_b}, min_len 1 (ea-mt's defaults); CTranslate2 with the same "
            "(benchmarks/decoding/ct2_runner.py)")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.memory_worker:
        from benchmarks.decoding.memory import worker

        print(json.dumps(worker(args.memory_worker)))
        return 0
    if args.report:
        from benchmarks.decoding.report import write_report

        results = json.loads((args.report / "results.json").read_text(encoding="utf-8"))
        write_report(results, args.report)
        log(f"wrote {args.report}/results.md")
        return 0
    settings = settings_from(parser(), args)
    # fairseq's imports set the root logger to DEBUG; keep stderr to the progress lines.
    logging.getLogger().setLevel(logging.WARNING)
    from benchmarks.decoding.grid import run_grid
    from benchmarks.decoding.report import save_json, write_report

    out: Path = settings.out or dated_folder("decoding")
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": command_line("benchmarks.decoding", argv),
        "started": utc_now(), "machine": machine_description(), "versions": installed_versions(),
        "settings": {"beams": settings.beams, "batches": settings.batches,
                     "threads": settings.threads, "rounds": settings.rounds,
                     "limit": settings.limit},
        "decoding": decoding_description(),
        "tokens": "SentencePiece pieces of the best hypothesis, EOS excluded",
        "runs": [],
    }
    run_grid(settings, results, lambda r: save_json(r, out))
    print(write_report(results, out))
    log(f"wrote {out}/results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
