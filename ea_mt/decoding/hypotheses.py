"""What a translation returns: hypotheses with their scores, tokens and alignments, per line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hypothesis:
    """One translation: detokenised text and fairseq's length-normalised log-probability;
    its target token ids (``</s>`` last) and, when asked for, its word alignment."""

    text: str
    score: float
    tokens: tuple[int, ...] = ()
    alignment: str | None = None


@dataclass(frozen=True)
class LineResult:
    """The n-best hypotheses of one input line (none for an empty line) and what went wrong."""

    hypotheses: list[Hypothesis]
    truncated: bool = False
    hit_max_len: bool = False

    @property
    def text(self) -> str:
        """The best translation, '' for an empty line."""
        return self.hypotheses[0].text if self.hypotheses else ""
