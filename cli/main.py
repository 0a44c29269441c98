"""Entry point of the ``ea-mt`` console script."""

import typer

import ea_mt
from ea_mt.cli import (  # noqa: F401  (each module attaches its command to the app)
    average,
    demo,
    evaluate,
    export,
    inspect,
    models,
    prepare,
    score,
    serve,
    train,
    translate,
)
from ea_mt.cli.app import app


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ea-mt {ea_mt.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Evolving-Attention Transformer NMT on fairseq: prepare, train, translate, score."""


def main() -> None:
    """Run the ``ea-mt`` application."""
    app()
