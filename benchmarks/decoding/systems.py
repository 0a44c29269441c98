"""The systems compared, and what a system does in a timed run.

A system is a decoder on one of the two models at one precision.  Every system turns a
batch of source pieces (SentencePiece pieces of the raw lines) into its own input once,
outside the timing, cut to the model's source length as ``ea-mt translate`` cuts them
(``prepare``); ``run`` is what is timed;
``pieces`` turns its output into the target pieces of each sentence's best hypothesis,
EOS excluded: what every system's tokens are counted and compared on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

DECODERS = ("fairseq", "fast", "ct2")
MODELS = ("ea", "vanilla")
BASELINE = "ct2-vanilla-fp32"  # every ratio is against this one


@dataclass(frozen=True)
class System:
    """One decoder on one model at one precision."""

    decoder: str  # fairseq: SequenceGenerator; fast: ea-mt's beam search; ct2: CTranslate2
    model: str  # ea or vanilla
    precision: str  # fp32 or int8

    @property
    def key(self) -> str:
        return f"{self.decoder}-{self.model}-{self.precision}"

    @property
    def label(self) -> str:
        name = {"fairseq": "fairseq SequenceGenerator", "fast": "ea-mt fast",
                "ct2": "CTranslate2"}[self.decoder]
        model = "EA" if self.model == "ea" else "vanilla"
        return f"{name}, {model}, {self.precision}"

    @property
    def reference(self) -> str | None:
        """The system whose outputs this one's are compared with: fairseq's on the same
        model; None for fairseq itself."""
        if self.decoder == "fairseq":
            return None
        return System("fairseq", self.model, "fp32").key


# fairseq's SequenceGenerator first on each model, then the fast path, then CTranslate2.
SYSTEMS = (
    System("fairseq", "ea", "fp32"),
    System("fast", "ea", "fp32"),
    System("fast", "ea", "int8"),
    System("fairseq", "vanilla", "fp32"),
    System("fast", "vanilla", "fp32"),
    System("fast", "vanilla", "int8"),
    System("ct2", "vanilla", "fp32"),
    System("ct2", "vanilla", "int8"),
)


class Runner(Protocol):
    """A system set up for one beam size and thread count."""

    def prepare(self, pieces: list[list[str]]) -> Any:
        """The system's input for a batch of source pieces."""

    def run(self, prepared: Any) -> Any:
        """Decode one prepared batch (the timed part)."""

    def pieces(self, output: Any) -> list[list[str]]:
        """The best hypothesis of each sentence of ``run``'s output, as target pieces
        without EOS."""
