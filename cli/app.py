"""The Typer application that every command module attaches its command to.

Every error ends the same way: one ``ea-mt: error: ...`` line on stderr and a non-zero exit,
never a traceback or a box, whether it is a usage error the option parser found (exit 2,
with a pointer to ``--help``), a UserError a command raised (exit 2) or an I/O error no
command turned into one (exit 1).  ``-h`` is ``--help`` everywhere.
"""

import sys
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from ea_mt.errors import UserError
from ea_mt.textio import flush_stdout

try:  # typer vendors click since 0.2x
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover - older typer on click itself
    from click.exceptions import ClickException, UsageError

# The order of `ea-mt --help`: the pipeline's, not the order the modules happen to load in.
COMMAND_ORDER = ("demo", "prepare", "train", "average", "export", "models", "translate",
                 "score", "evaluate", "inspect", "serve")
HELP_OPTIONS = ["-h", "--help"]


class _UserErrorsAsOneLine(TyperGroup):
    """Report every error of any command, or of its command line, as one stderr line."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except ClickException as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # the help is already shown
                sys.exit(error.exit_code)
            _fail(usage_line(error), error.exit_code)
        except typer.Abort:
            _fail("aborted", 1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            result = super().invoke(ctx)
            flush_stdout()  # so that a full disk fails here, named, not at exit
            return result
        except UserError as error:
            _fail(str(error), 2)
        except BrokenPipeError:
            raise  # the reader of stdout left: typer ends quietly
        except OSError as error:  # an I/O failure no command turned into a UserError
            where = f"{error.filename}: " if error.filename else ""
            _fail(f"{where}{error.strerror or error}", 1)


def usage_line(error: ClickException) -> str:
    """A command-line error as one line, with the command's ``--help`` to try."""
    message = " ".join(error.format_message().split())
    ctx = getattr(error, "ctx", None)
    if isinstance(error, UsageError) and ctx is not None:
        message = f"{message.rstrip('.')}; try '{ctx.command_path} --help'"
    return message


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"ea-mt: error: {message}", err=True)
    sys.exit(code)


app = typer.Typer(
    name="ea-mt",
    cls=_UserErrorsAsOneLine,
    help="Train, translate with and score Evolving-Attention Transformer NMT models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTIONS},
)
