"""Cleaning rules for training pairs; every dropped pair is counted under one reason.

Rules run in two stages, in the order of :data:`REASONS`: text rules before the
SentencePiece model exists (so it learns from clean text), length rules after,
since lengths are counted in pieces.  A pair is counted under the first rule it breaks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ea_mt.errors import UserError, check_finite

REASONS = ("empty", "duplicate", "in_valid_or_test", "too_long", "length_ratio")
REASON_HELP = {
    "empty": "a side is empty",
    "duplicate": "repeats an earlier pair",
    "in_valid_or_test": "a side is in valid/test",
    "too_long": "longer than --max-tokens-per-sentence",
    "length_ratio": "length ratio above --max-ratio",
}


@dataclass(frozen=True)
class CleaningSettings:
    """Limits for training pairs."""

    max_tokens_per_sentence: int = 250
    max_ratio: float = 3.0

    def check(self) -> None:
        """Raise a UserError for limits no pair could meet, or that are not numbers."""
        if self.max_tokens_per_sentence < 1:
            raise UserError("--max-tokens-per-sentence must be positive")
        check_finite("--max-ratio", self.max_ratio)
        if self.max_ratio < 1:
            raise UserError("--max-ratio must be at least 1")


def normalize(line: str) -> str:
    """Collapse every run of Unicode whitespace to one space and trim the ends."""
    return " ".join(line.split())


class TextFilter:
    """The text rules: empty side, duplicate pair, side also in valid/test."""

    def __init__(self, eval_src: set[str], eval_tgt: set[str]) -> None:
        self._eval_src = eval_src
        self._eval_tgt = eval_tgt
        self._seen: set[int] = set()

    def reason(self, src: str, tgt: str) -> str | None:
        """Why the (normalized) pair is dropped, or None to keep it."""
        if not src or not tgt:
            return "empty"
        key = hash((src, tgt))
        if key in self._seen:
            return "duplicate"
        self._seen.add(key)
        if src in self._eval_src or tgt in self._eval_tgt:
            return "in_valid_or_test"
        return None


def length_reason(src_pieces: int, tgt_pieces: int, settings: CleaningSettings) -> str | None:
    """The length rules on piece counts: too long, or too unequal."""
    if max(src_pieces, tgt_pieces) > settings.max_tokens_per_sentence:
        return "too_long"
    if max(src_pieces, tgt_pieces) > settings.max_ratio * max(1, min(src_pieces, tgt_pieces)):
        return "length_ratio"
    return None
