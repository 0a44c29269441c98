"""The Typer application that every command module attaches its command to."""

import typer
from typer.core import TyperGroup

from ea_mt.errors import UserError

# The order of `ea-mt --help`: the pipeline's, not the order the modules happen to load in.
COMMAND_ORDER = ("demo", "prepare", "train", "average", "translate", "score", "evaluate",
                 "inspect")


class _UserErrorsAsOneLine(TyperGroup):
    """Turn a UserError raised by any command into one stderr line and exit code 2."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except UserError as error:
            typer.echo(f"ea-mt: error: {error}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    name="ea-mt",
    cls=_UserErrorsAsOneLine,
    help="Train, translate with and score Evolving-Attention Transformer NMT models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
