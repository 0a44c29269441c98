"""The ``ea-mt demo`` command: bundled sample -> trained EA model -> test BLEU and chrF."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ea_mt.cli.app import app
from ea_mt.cli.progress import QuietOption, reporter, stderr_console, stdout_console
from ea_mt.cli.train import TrainDisplay
from ea_mt.demo import (
    DEFAULT_DEMO_WORKDIR,
    MODEL_DESCRIPTION,
    DemoResult,
    DemoSettings,
    LineCallback,
    run_demo,
)
from ea_mt.training.train import TrainPlan

HELP = (
    "Run the whole pipeline on the bundled Tatoeba En-De sample (20k training pairs), in "
    "about ten minutes on two CPU cores.\n\n"
    "Prepares the data (SentencePiece, 4000 pieces), trains a small EA-Transformer until "
    "the time budget is spent, translates the 500 held-back test sentences with the best "
    "checkpoint (on valid BLEU) and scores them with sacrebleu. The results table goes to "
    "stdout; progress to stderr. Rerunning reuses "
    "what is done (training resumes, then stops at once); delete the work directory to "
    "start over."
)
EXAMPLES = (
    "Examples:\n\n"
    "ea-mt demo\n\n"
    "ea-mt demo --minutes 30 --workdir runs/demo30"
)


@app.command("demo", help=HELP, epilog=EXAMPLES)
def demo_command(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Folder with train/valid/test.{en,de} [default: bundled]."),
    ] = None,
    workdir: Annotated[
        Path, typer.Option("--workdir", "-w", help="Work directory of the demo.")
    ] = DEFAULT_DEMO_WORKDIR,
    minutes: Annotated[
        float, typer.Option("--minutes", help="Training time budget in minutes.")
    ] = DemoSettings.minutes,
    threads: Annotated[
        int, typer.Option("--threads", help="CPU threads for training and translation.")
    ] = DemoSettings.threads,
    quiet: QuietOption = False,
) -> None:
    """Run the demo and print its results table on stdout."""
    given = {"data": data} if data is not None else {}
    settings = DemoSettings(**given, workdir=workdir, minutes=minutes, threads=threads)
    console = stderr_console()

    @contextmanager
    def live_training(plan: TrainPlan) -> Iterator[LineCallback]:
        if not quiet:
            console.print(f"Training {plan.options.arch} ({MODEL_DESCRIPTION}) for up to "
                          f"{minutes:g} minutes (log: {plan.log_path})")
        with TrainDisplay(plan, console, quiet) as display:
            yield display.on_line

    result = run_demo(settings, reporter(quiet), live_training)
    out = stdout_console()
    out.print(results_table(result))
    if result.systems:
        out.print(f"sacrebleu {result.systems[0].bleu_signature}")
    if not quiet:
        steps = ", ".join(f"{step} {seconds:.0f}s" for step, seconds in result.seconds.items())
        console.print(f"Time: {steps}. Translations: "
                      + ", ".join(str(system.hypotheses) for system in result.systems))


def results_table(result: DemoResult) -> Table:
    """Test-set scores per checkpoint, then what was trained and how it was scored."""
    table = Table(title=f"ea-mt demo: Tatoeba en→de, {result.test_pairs} test sentences")
    table.add_column("checkpoint")
    table.add_column("BLEU", justify="right")
    table.add_column("chrF", justify="right")
    for system in result.systems:
        table.add_row(system.checkpoint.name, f"{system.bleu:.1f}", f"{system.chrf:.1f}")
    best = "-" if result.best_valid_bleu is None else f"{result.best_valid_bleu:.2f}"
    table.add_section()
    table.add_row("training pairs", str(result.train_pairs), "")
    table.add_row("updates", str(result.updates), "")
    table.add_row("best valid BLEU", best, "")
    return table
