"""What fairseq's log of a run says: updates, best validation BLEU and the validation curve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ea_mt.training.fairseq_log import LogLine, TrainStatus, parse

CONVERGENCE_WINDOW = 1000  # updates: the report's "gain over the last N updates"


def validation_curve(log_path: Path) -> list[tuple[int, float]]:
    """(updates, validation BLEU) at every validation in fairseq's log, in order."""
    curve: dict[int, float] = {}
    for line in parsed_log(log_path):
        if line.source == "valid" and {"valid_bleu", "valid_num_updates"} <= line.stats.keys():
            curve[int(line.stats["valid_num_updates"])] = line.stats["valid_bleu"]
    return sorted(curve.items())


def convergence(log_path: Path, max_update: int,
                window: int = CONVERGENCE_WINDOW) -> dict[str, Any]:
    """How a run ended: its validation curve, where its best was, and whether it stopped
    on patience (before the cap) or at ``--max-update``; ``gain`` is the best validation
    BLEU minus the best up to ``window`` updates before the end (None if it ran less)."""
    curve = validation_curve(log_path)
    if not curve:
        return {"curve": [], "stopped": None, "best_at": None, "gain": None,
                "window": window}
    last = curve[-1][0]
    best_at, best = max(curve, key=lambda point: (point[1], -point[0]))
    earlier = [bleu for updates, bleu in curve if updates <= last - window]
    return {
        "curve": curve,
        "stopped": "patience" if last < max_update else "max-update",
        "best_at": best_at,
        "gain": best - max(earlier) if earlier else None,
        "window": window,
    }


def train_status(log_path: Path) -> TrainStatus:
    """Updates and best validation BLEU from fairseq's log (every segment of it)."""
    status = TrainStatus(best_metric="bleu")
    for line in parsed_log(log_path):
        status.update(line)
    return status


def parsed_log(log_path: Path) -> Iterator[LogLine]:
    """fairseq's log, line by line, parsed."""
    with log_path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            yield parse(line)
