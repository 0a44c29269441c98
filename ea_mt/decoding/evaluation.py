"""Translate a test set and score it in one step, keeping both results next to the model.

``MODEL_DIR/eval/NAME.CHECKPOINT.hyp`` holds the translations and ``.json`` the report
(scores, signatures, checkpoint, options, timing), where NAME is the source file's name
without its ``.SRC`` suffix: ``test.en`` evaluated with ``checkpoint_best.pt`` gives
``eval/test.checkpoint_best.hyp``, so several checkpoints' results sit side by side.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ea_mt.decoding.options import InputOptions
from ea_mt.decoding.scoring import DEFAULT_METRICS, MetricScore, score_files
from ea_mt.decoding.translation import Translator, translate_file
from ea_mt.errors import UserError
from ea_mt.fileio import write_json_atomic
from ea_mt.textio import STDIO, open_input
from ea_mt.workdir import sha256_file

REPORT_FORMAT = "ea-mt-eval"


@dataclass(frozen=True)
class Evaluation:
    """Where the hypotheses and the report went, and the report itself."""

    hyp_path: Path
    report_path: Path
    scores: list[MetricScore]
    report: dict[str, Any]


def output_paths(translator: Translator, src: Path) -> tuple[Path, Path]:
    """The ``.hyp`` and ``.json`` paths for evaluating ``src`` with this translator."""
    name = src.name.removesuffix(f".{translator.files.src}") or src.name
    base = translator.files.model_dir / "eval" / f"{name}.{translator.files.checkpoint.stem}"
    return base.with_name(base.name + ".hyp"), base.with_name(base.name + ".json")


def evaluate(
    src: Path,
    refs: Sequence[Path],
    translator: Translator,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    buffer_size: int = InputOptions.buffer_size,
    errors: str = InputOptions.errors,
    warn: Callable[[str], None] | None = None,
    on_lines: Callable[[int], None] | None = None,
) -> Evaluation:
    """Translate ``src``, score it against ``refs`` and write both next to the model."""
    if not refs:
        raise UserError("give at least one reference file with --ref")
    if str(src) == STDIO:
        raise UserError("--src must be a file: evaluate reads it twice")
    _check_line_counts(src, refs)
    hyp_path, report_path = output_paths(translator, src)
    stats = translate_file(  # replaces hyp_path only once every line is translated
        src,
        hyp_path,
        translator=translator,
        buffer_size=buffer_size,
        errors=errors,
        warn=warn,
        on_lines=on_lines,
    )
    start = time.perf_counter()
    scored = score_files(hyp_path, refs, metrics)
    report = {
        "format": REPORT_FORMAT,
        "version": 1,
        "src": str(src.resolve()),
        "refs": [str(Path(r).resolve()) for r in refs],
        "hyp": str(hyp_path.resolve()),
        "lines": stats.lines,
        "model": {
            **translator.describe(),
            "checkpoint": str(translator.files.checkpoint.resolve()),
            "checkpoint_sha256": sha256_file(translator.files.checkpoint),
        },
        "options": {"buffer_size": buffer_size, "errors": errors},
        "scores": scored.to_json()["scores"],
        "timing": {
            "load_s": round(translator.load_seconds, 3),
            "translate_s": round(stats.seconds, 3),
            "lines_per_s": round(stats.lines_per_second, 2),
            "score_s": round(time.perf_counter() - start, 3),
        },
        "warnings": {
            "truncated_lines": stats.truncated,
            "max_length_lines": stats.hit_max_len,
            "empty_translation_lines": stats.empty,
        },
    }
    write_json_atomic(report_path, report)
    return Evaluation(hyp_path, report_path, scored.scores, report)


def _check_line_counts(src: Path, refs: Sequence[Path]) -> None:
    """Fail before translating when a reference cannot line up with the source."""
    counts = {path: _count_lines(path) for path in (src, *refs)}
    for ref in refs:
        if counts[ref] != counts[src]:
            raise UserError(
                f"{ref} has {counts[ref]} lines but {src} has {counts[src]}: "
                "line i of each must be the same sentence"
            )
    if counts[src] == 0:
        raise UserError(f"{src} is empty: nothing to evaluate")


def _count_lines(path: Path) -> int:
    with open_input(path) as stream:
        count = 0
        last = b"\n"
        for block in iter(lambda: stream.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
        return count + (last != b"\n")
