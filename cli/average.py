"""The ``ea-mt average`` command: average the last N checkpoints into checkpoint_avg.pt."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ea_mt.cli.app import app
from ea_mt.cli.options import WorkdirOption
from ea_mt.cli.progress import QuietOption, reporter, stderr_console
from ea_mt.textio import stdout_errors
from ea_mt.workdir import DEFAULT_WORKDIR, WorkDir

HELP = (
    "Average the weights of the last N checkpoints into checkpoint_avg.pt.\n\n"
    "Takes the newest update checkpoints (checkpoint_E_U.pt, from --save-interval-updates) "
    "when there are any, else the newest epoch checkpoints (checkpointE.pt). The averaged "
    "checkpoint sits in the same model directory, so translate and evaluate take it with "
    "--checkpoint. Prints its path on stdout."
)
EXAMPLES = (
    "Examples:\n\n"
    "ea-mt average --last 5\n\n"
    "ea-mt average --last 10 -w runs/deen && "
    "ea-mt evaluate -w runs/deen --checkpoint runs/deen/checkpoints/checkpoint_avg.pt"
)


@app.command("average", help=HELP, epilog=EXAMPLES)
def average_command(
    last: Annotated[int, typer.Option("--last", "-n", help="How many checkpoints.")] = 5,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    save_dir: Annotated[
        Path | None,
        typer.Option("--save-dir", help="Checkpoint directory [default: WORKDIR/checkpoints]."),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Average, then print the new checkpoint's path on stdout."""
    from ea_mt.training.averaging import AVERAGE_NAME, average_checkpoints, last_checkpoints

    folder = save_dir or WorkDir(workdir).checkpoints
    paths = last_checkpoints(folder, last)
    output = average_checkpoints(paths, folder / AVERAGE_NAME, reporter(quiet))
    if not quiet:
        names = ", ".join(path.name for path in paths)
        stderr_console().print(f"Averaged {len(paths)} checkpoints ({names})")
    with stdout_errors():
        typer.echo(str(output))
