"""The Typer application that every command module attaches its command to."""

import typer

app = typer.Typer(
    name="ea-mt",
    help="Train, translate with and score Evolving-Attention Transformer NMT models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
