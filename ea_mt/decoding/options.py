"""The settings of translation: beam search and batching, and how input is read.

Each setting is defined here once, with its default; the library's functions and the
``translate``, ``evaluate`` and ``demo`` commands take their defaults from these
dataclasses.  Light on purpose (no torch, no fairseq), so the command line can show the
defaults in ``--help`` without loading a model.  Device, precision and threads live in
:mod:`ea_mt.devices`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ea_mt.errors import UserError, check_finite
from ea_mt.textio import ERROR_MODES

# "fast": ea-mt's own beam search (ea_mt.decoding.beam_search), exactly SequenceGenerator's
# hypotheses and scores; "fairseq": fairseq's SequenceGenerator itself.
DECODERS = ("fast", "fairseq")


@dataclass(frozen=True)
class DecodeOptions:
    """Beam search and batching settings."""

    beam: int = 5
    lenpen: float = 1.0
    nbest: int = 1
    max_len_a: float = 0.0
    max_len_b: int = 200
    batch_size: int = 64
    max_tokens: int | None = None
    decoder: str = "fast"

    def check(self) -> None:
        """Raise a UserError for settings beam search cannot run with."""
        if self.decoder not in DECODERS:
            raise UserError(f"--decoder must be one of {', '.join(DECODERS)}, "
                            f"not {self.decoder!r}")
        check_finite("--lenpen", self.lenpen)
        check_finite("--max-len-a", self.max_len_a)
        for name, value in (
            ("beam", self.beam),
            ("nbest", self.nbest),
            ("batch-size", self.batch_size),
        ):
            if value < 1:
                raise UserError(f"--{name} must be at least 1, not {value}")
        if self.nbest > self.beam:
            raise UserError(f"--nbest {self.nbest} is larger than --beam {self.beam}")
        if self.max_len_a < 0 or self.max_len_b < 1:
            raise UserError("--max-len-a must be >= 0 and --max-len-b >= 1")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise UserError(f"--max-tokens must be at least 1, not {self.max_tokens}")


@dataclass(frozen=True)
class InputOptions:
    """How input text is read: lines per buffer (each sorted into batches), and what an
    invalid UTF-8 line does (``strict``: stop with its line number; ``replace``: U+FFFD)."""

    buffer_size: int = 2000
    errors: str = "strict"

    def check(self) -> None:
        """Raise a UserError for settings input cannot be read with."""
        if self.errors not in ERROR_MODES:
            raise UserError(
                f"--errors must be one of {', '.join(ERROR_MODES)}, not {self.errors!r}"
            )
        if self.buffer_size < 1:
            raise UserError(f"--buffer-size must be at least 1, not {self.buffer_size}")
