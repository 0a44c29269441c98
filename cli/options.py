"""Options that several commands share (their default comes with the parameter:
``workdir: WorkdirOption = DEFAULT_WORKDIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

WorkdirOption = Annotated[
    Path,
    typer.Option(
        "--workdir", "-w", help="Work directory (prepared data, checkpoints).", show_default=True
    ),
]
