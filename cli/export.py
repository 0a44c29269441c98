"""The ``ea-mt export`` command: a trained model as a small model directory to ship."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ea_mt.cli.app import app
from ea_mt.cli.options import CheckpointOption, WorkdirOption
from ea_mt.cli.progress import QuietOption, stderr_console
from ea_mt.modeldir import resolve_model
from ea_mt.textio import stdout_errors
from ea_mt.training.export import DEFAULT_WEIGHTS, WEIGHTS
from ea_mt.workdir import DEFAULT_WORKDIR

HELP = (
    "Export a trained model as a model directory that holds only what translation needs.\n\n"
    "Writes the weights (fp16 unless --weights fp32; translation still computes in the "
    "precision it is asked for), model.json, the SentencePiece model and the dictionaries "
    "into the new directory OUTPUT, without optimizer state: a sixth of a training "
    "checkpoint's size in fp16. translate, evaluate, inspect, serve and the Python API take "
    "it with --checkpoint OUTPUT. Prints the exported checkpoint's path on stdout."
)
EXAMPLES = (
    "Examples:\n\n"
    "ea-mt export -o ende-model\n\n"
    "ea-mt export --checkpoint runs/ende/checkpoints/checkpoint_avg.pt -o ende-avg "
    "--description 'En-De, Multi30k, 5 checkpoints averaged'"
)


@app.command("export", help=HELP, epilog=EXAMPLES)
def export_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="The new model directory.")],
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    checkpoint: CheckpointOption = None,
    weights: Annotated[
        str, typer.Option("--weights", help=f"One of {', '.join(WEIGHTS)}.")
    ] = DEFAULT_WEIGHTS,
    description: Annotated[
        str | None, typer.Option("--description", help="What the model is, for model.json.")
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Export, then print the exported checkpoint's path on stdout."""
    from ea_mt.training.export import export_model

    files = resolve_model(workdir, checkpoint)
    exported = export_model(files, output, weights, description)
    if not quiet:
        size = exported.stat().st_size / 1e6
        stderr_console().print(
            f"Exported {files.checkpoint} ({weights}, {size:.1f} MB) to {output}")
    with stdout_errors():
        typer.echo(str(exported))
