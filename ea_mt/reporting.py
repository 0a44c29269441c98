"""How library functions report progress without knowing who shows it.

The CLI passes a rich implementation (``ea_mt.cli.progress``); tests and library
users get :class:`SilentReporter`, which shows nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol, TypeVar

T = TypeVar("T")


class Reporter(Protocol):
    """Progress sink for long library steps."""

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterable[T]:
        """Yield ``items`` while showing how far through ``total`` they are."""
        ...

    def step(self, description: str) -> AbstractContextManager[None]:
        """A step of unknown length (a spinner) while the ``with`` body runs."""
        ...

    def info(self, message: str) -> None:
        """A one-line note for the user."""
        ...


class SilentReporter:
    """A Reporter that shows nothing."""

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        yield from items

    def step(self, description: str) -> AbstractContextManager[None]:
        return nullcontext()

    def info(self, message: str) -> None:
        pass
