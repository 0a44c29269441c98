"""The limits and batching settings of ``ea-mt serve``, each defined here once with its default.

Light on purpose (no torch, no fastapi): the command line reads the defaults for ``--help``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ea_mt.errors import UserError

DEFAULT_HOST = "127.0.0.1"  # only this machine, unless --host says otherwise
DEFAULT_PORT = 8080
API_KEY_ENV = "EA_MT_API_KEY"
DEFAULT_MODEL_NAME = "default"  # the model of --workdir / --checkpoint

# JSON spends at most 12 bytes on one character ("\ud83d\ude00"); the rest is slack for the
# keys, separators and whitespace of a request.
_BYTES_PER_CHAR = 12
_BYTES_PER_SENTENCE = 64
_BODY_SLACK = 16 * 1024


@dataclass(frozen=True)
class ServeSettings:
    """How requests are batched and how much one request may ask for."""

    max_batch_size: int = 32  # sentences the model translates at once
    # How long the first waiting sentence waits for company before a batch starts or joins
    # the running search.  0: at once, with whatever waited while the model was busy; on
    # the fast decoder's continuous search a wait of 5 ms gained no throughput at 32
    # clients (104.6 sentences/s without, 105.4 with) and cost a lone sentence about 6 ms
    # (27.6 ms served against 21.9 without; 21.6 ms direct): BENCHMARKS.md, 2026-12-08.
    max_wait_ms: float = 0.0
    max_sentences: int = 100  # texts in one /translate request
    max_chars: int = 10_000  # characters in one request, all texts together
    max_beam: int = 10  # the largest beam a request may ask for
    max_inspect_pieces: int = 64  # source or target pieces of an /inspect sentence

    def check(self) -> None:
        """Raise a UserError for a setting the server cannot run with."""
        for name in ("max_batch_size", "max_sentences", "max_chars", "max_beam",
                     "max_inspect_pieces"):
            value = getattr(self, name)
            if value < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
        if not (math.isfinite(self.max_wait_ms) and self.max_wait_ms >= 0):
            raise UserError(f"--max-wait-ms must be a number >= 0, not {self.max_wait_ms}")

    @property
    def max_body_bytes(self) -> int:
        """The largest request body read; a larger one is refused before it is parsed."""
        return (_BYTES_PER_CHAR * self.max_chars + _BYTES_PER_SENTENCE * self.max_sentences
                + _BODY_SLACK)

    def describe(self) -> dict[str, float | int]:
        """The limits, for ``GET /models``."""
        return {**self.__dict__, "max_body_bytes": self.max_body_bytes}
