"""The ``ea-mt inspect`` command: attention maps of one sentence as PNG grids and JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ea_mt.bundled import bundled_model
from ea_mt.cli.app import app
from ea_mt.cli.options import CheckpointOption, WorkdirOption
from ea_mt.cli.progress import QuietOption, stderr_console
from ea_mt.errors import UserError
from ea_mt.fileio import check_writable_dir, write_json_atomic
from ea_mt.textio import stdout_errors
from ea_mt.workdir import DEFAULT_WORKDIR

DEFAULT_OUT = Path("ea-mt-inspect")
REPORT_NAME = "attention.json"
HELP = (
    "Show how attention evolves through the layers for one sentence.\n\n"
    "Runs the sentence teacher-forced on --target (or, without it, on the model's own "
    "beam-search translation, beam 5) and writes, for the encoder self-attention, the "
    "decoder self-attention and the cross attention, a PNG grid with one row per layer and "
    "the columns M (before the convolution), A (evolved) and softmax weights (vanilla "
    "transformers: softmax only), and attention.json with per-layer, per-head statistics: "
    "entropy of the softmax rows (nats), Jensen-Shannon divergence from the previous "
    "layer (nats) and the convolution branch's share of A (Frobenius norms). "
    "Heads are numbered from 0. stdout lists the written files; the summary table goes "
    "to stderr."
)
EXAMPLES = (
    "Examples:\n\n"
    "ea-mt inspect 'Two dogs play in the snow.' -w runs/ende\n\n"
    "ea-mt inspect 'I like tea.' --target 'Ich mag Tee.' --head 0 --out maps\n\n"
    "ea-mt inspect 'I like tea.' --checkpoint ea/checkpoints --compare vanilla/checkpoints\n\n"
    "ea-mt inspect 'I like tea.' --checkpoint tatoeba-en-de-ea --compare tatoeba-en-de-vanilla"
)


@app.command("inspect", help=HELP, epilog=EXAMPLES)
def inspect_command(
    sentence: Annotated[str, typer.Argument(help="Source sentence (raw text).")],
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", help="Reference translation to teacher-force on."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the PNG files and attention.json.")
    ] = DEFAULT_OUT,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    checkpoint: CheckpointOption = None,
    head: Annotated[
        int | None, typer.Option("--head", help="Draw this head instead of the mean over heads.")
    ] = None,
    all_heads: Annotated[
        bool, typer.Option("--all-heads", help="Draw every head, one file per chain and head.")
    ] = False,
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            help="A second checkpoint (file, model directory or bundled model) with the "
            "same SentencePiece model and dictionaries, drawn side by side on the same "
            "target pieces.",
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    from ea_mt.decoding.translation import Translator
    from ea_mt.inspection.plots import write_figures
    from ea_mt.inspection.sentence import check_heads, inspect_sentence, report

    if compare is not None and not compare.exists() and bundled_model(compare) is None:
        raise UserError(f"--compare {compare}: no such file or directory, nor a bundled model")
    check_writable_dir(out, "--out")
    translators = [Translator.load(workdir, checkpoint)]
    if compare is not None:
        translators.append(Translator.load(workdir, compare))
    check_heads(translators, head, all_heads)
    inspection = inspect_sentence(translators, sentence, target)
    data = report(inspection)
    paths = write_figures(inspection, out, head, all_heads)
    write_json_atomic(out / REPORT_NAME, data)
    paths.append(out / REPORT_NAME)
    if not quiet:
        console = stderr_console()
        console.print(f"target ({inspection.target_origin}): {inspection.target}",
                      markup=False)
        console.print(summary_table(data, head))
        console.print(f"wrote {len(paths)} files to {out}", markup=False)
    with stdout_errors():
        for path in paths:
            typer.echo(path)


def summary_table(data: dict[str, Any], head: int | None) -> Table:
    """Per model, chain and layer of a report: entropy, JSD from the previous layer, conv share."""
    from ea_mt.inspection.sentence import pick

    which = "mean over heads" if head is None else f"head {head}"
    table = Table(title=f"attention by layer ({which})")
    for column in ("model", "chain", "layer", "entropy", "JSD prev", "conv share"):
        table.add_column(column, justify="left" if column in ("model", "chain") else "right")
    for model in data["models"]:
        for chain, layers in model["chains"].items():
            for row in layers:
                values = (pick(row[key], head) for key in
                          ("entropy", "jsd_from_previous", "conv_share"))
                table.add_row(model["label"], chain, str(row["layer"]),
                              *("—" if v is None else f"{v:.3f}" for v in values))
    return table
