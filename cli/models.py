"""The ``ea-mt models`` command: the trained models that ship with ea-mt."""

from __future__ import annotations

from typing import Annotated

import typer

from ea_mt.bundled import bundled_models
from ea_mt.cli.app import app
from ea_mt.textio import stdout_errors
from ea_mt.workdir import MODEL_JSON, read_json

HELP = (
    "List the trained models that ship with ea-mt, usable by name without a work "
    "directory: 'ea-mt translate --checkpoint NAME', 'ea-mt serve --model NAME', "
    "Translator.load(NAME).\n\n"
    "Prints one tab-separated line per model: name, language pair, architecture, "
    "description; --paths adds the model directory."
)


@app.command("models", help=HELP)
def models_command(
    paths: Annotated[bool, typer.Option("--paths", help="Add each model's directory.")] = False,
) -> None:
    """One line per bundled model on stdout."""
    rows = []
    for name, folder in bundled_models().items():
        manifest = read_json(folder / MODEL_JSON)
        row = [name, f"{manifest['src']}-{manifest['tgt']}", manifest["arch"],
               manifest.get("description", "")]
        rows.append("\t".join(row + ([str(folder)] if paths else [])))
    if not rows:
        typer.echo("ea-mt models: this installation bundles no trained model", err=True)
    with stdout_errors():
        for row in rows:
            typer.echo(row)
