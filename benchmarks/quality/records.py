"""Each run's record, ``quality-run.json`` next to its model: how it was trained, its scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.common import write_json
from benchmarks.quality.plan import Run

RECORD = "quality-run.json"


def read_record(model_dir: Path) -> dict[str, Any]:
    """The run's record, or {} before it finished training."""
    path = model_dir / RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_record(model_dir: Path, record: dict[str, Any]) -> None:
    """Keep the record next to the model."""
    write_json(model_dir / RECORD, record)


def trained_as(record: dict[str, Any], run: Run, args: list[str]) -> bool:
    """Whether a run's record was trained with these options and this α and β (the EA run
    leaves them at the model's defaults, so a changed default must not reuse it)."""
    kept = record.get("run", {})
    return (record.get("train_args") == args
            and (kept.get("alpha"), kept.get("beta")) == (run.alpha, run.beta))
