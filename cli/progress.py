"""Rich output shared by the commands: a stderr console, progress bars, ``--quiet``.

stdout carries data only; everything here writes to stderr.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ea_mt.reporting import Reporter, SilentReporter

T = TypeVar("T")

QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Show no progress on stderr, only results and errors.")
]


def stderr_console() -> Console:
    """A console on the current stderr (looked up at each write, as CliRunner swaps it).

    Lines are never wrapped by us: a terminal wraps them itself, and a log file or pipe
    keeps paths and messages whole on one line."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    """A console on stdout, for a command whose data is a table."""
    return Console(highlight=False)


class RichReporter:
    """A Reporter showing progress bars and spinners on stderr."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        if not self.console.is_terminal:  # a log file: no bars, just the step when done
            yield from items
            self.console.print(f"[green]✓[/] {description}")
            return
        columns = [
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=self.console, transient=True) as progress:
            yield from progress.track(items, total=total, description=description)
        self.console.print(f"[green]✓[/] {description}")

    @contextmanager
    def step(self, description: str) -> Iterator[None]:
        with self.console.status(description):
            yield
        self.console.print(f"[green]✓[/] {description}")

    def info(self, message: str) -> None:
        self.console.print(message)


def reporter(quiet: bool) -> Reporter:
    """The Reporter for a command: silent with ``--quiet``, rich on stderr otherwise."""
    return SilentReporter() if quiet else RichReporter(stderr_console())

