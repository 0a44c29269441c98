"""Reading fairseq-train's ``--log-format json`` output as it streams.

A log line looks like ``2026-01-01 10:00:00 | INFO | train_inner | {"epoch": 1, ...}``;
``train_inner``, ``train`` and ``valid`` lines carry JSON statistics.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

STATS_SOURCES = ("train_inner", "train", "valid")
_LOADED = re.compile(r"Loaded checkpoint .* \(epoch (\d+) @ (\d+) updates\)")
_SAVED = re.compile(r"Saved checkpoint .* \(epoch \d+ @ (\d+) updates")
_ITERATIONS = re.compile(r"total_num_itrs = (\d+)")
_ERROR = re.compile(r"^\S*(Error|Exception)\b.*|: error: .*")


@dataclass(frozen=True)
class LogLine:
    """One line of output: who logged it, the message and, for statistics, their values."""

    source: str
    message: str
    level: str = ""
    stats: dict[str, float] = field(default_factory=dict)


def parse(line: str) -> LogLine:
    """Split a log line; a line that is not fairseq logging has source ``""``."""
    parts = line.rstrip("\n").split(" | ", 3)
    if len(parts) < 4:
        return LogLine(source="", message=line.rstrip("\n"))
    level, source, message = parts[1], parts[2], parts[3]
    stats: dict[str, float] = {}
    if source in STATS_SOURCES:
        try:
            stats = {key: _number(value) for key, value in json.loads(message).items()}
        except (json.JSONDecodeError, AttributeError):
            stats = {}
    return LogLine(source=source, message=message, level=level, stats=stats)


def last_saved_update(lines: Iterable[str]) -> int | None:
    """The update count of the last checkpoint fairseq-train reported saving, if any."""
    saved = None
    for line in lines:
        if (match := _SAVED.search(line)) is not None:
            saved = int(match.group(1))
    return saved


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


@dataclass
class TrainStatus:
    """What training has reached so far, updated line by line."""

    best_metric: str = "bleu"
    epoch: int = 0
    num_updates: int = 0
    epochs_done: float = 0.0
    updates_per_epoch: int | None = None
    resumed_from: int | None = None
    train: dict[str, float] = field(default_factory=dict)
    valid: dict[str, float] = field(default_factory=dict)
    best: float | None = None
    stop_reason: str | None = None
    error: str | None = None

    def update(self, line: LogLine) -> None:
        """Take in one parsed log line."""
        if line.source == "train_inner":
            self.train = line.stats
            self.epoch = int(line.stats.get("epoch", self.epoch))
            self.num_updates = int(line.stats.get("num_updates", self.num_updates))
            self.epochs_done = line.stats.get("update", self.epochs_done)
        elif line.source == "train":
            self.epoch = int(line.stats.get("epoch", self.epoch))
            self.num_updates = int(line.stats.get("train_num_updates", self.num_updates))
            self.epochs_done = float(self.epoch)
        elif line.source == "valid":
            self.valid = line.stats
            self._take_best(line.stats.get(f"valid_best_{self.best_metric}"))
            self._take_best(line.stats.get(f"valid_{self.best_metric}"))
        elif (loaded := _LOADED.search(line.message)) is not None:
            self.resumed_from = int(loaded.group(2))
            self.num_updates = self.resumed_from
            self.epoch = int(loaded.group(1))
        elif (iterations := _ITERATIONS.search(line.message)) is not None:
            self.updates_per_epoch = int(iterations.group(1))
        elif "Stopping training due to" in line.message or "early stop" in line.message:
            self.stop_reason = line.message
        elif line.level in ("ERROR", "CRITICAL"):
            self.error = line.message
        elif (error := _ERROR.search(line.message)) is not None:
            self.error = error.group(0).strip(": ")

    def _take_best(self, value: float | None) -> None:
        """Keep the better of the best so far and ``value`` (BLEU up, loss down)."""
        if value is None or value != value:  # absent or NaN
            return
        if self.best is None:
            self.best = value
        elif self.best_metric == "bleu":
            self.best = max(self.best, value)
        else:
            self.best = min(self.best, value)
