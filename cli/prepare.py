"""The ``ea-mt prepare`` command: raw parallel text -> SentencePiece + fairseq data-bin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ea_mt.cli.app import app
from ea_mt.cli.options import WorkdirOption
from ea_mt.cli.progress import QuietOption, reporter, stderr_console
from ea_mt.data.cleaning import REASON_HELP, REASONS, CleaningSettings
from ea_mt.data.prepare import PrepareRequest, prepare
from ea_mt.data.spm import SpmSettings
from ea_mt.workdir import DEFAULT_WORKDIR

HELP = (
    "Train a joint SentencePiece model, clean the training pairs and binarise for fairseq.\n\n"
    "Each PREFIX names two files, PREFIX.SRC and PREFIX.TGT, of raw (untokenised) UTF-8 text "
    "with one sentence per line; line i of both is one pair. "
    "Training pairs are dropped, and counted, when a side is empty, when they repeat an "
    "earlier pair, when a side also occurs in a valid or test set, when a side is too long or "
    "when the sides' lengths differ too much. Valid and test sets are never cleaned. "
    "Rerunning with the same inputs and settings reuses the result."
)
EXAMPLES = (
    "Examples:\n\n"
    "ea-mt prepare --src en --tgt de --train raw/train --valid raw/valid --test raw/test\n\n"
    "ea-mt prepare --src de --tgt en --train c/train --valid c/dev --test c/test19 "
    "--test c/test20 --vocab-size 16000 --spm-type bpe -w runs/deen"
)


@app.command("prepare", help=HELP, epilog=EXAMPLES)
def prepare_command(
    src: Annotated[str, typer.Option("--src", help="Source language code (file suffix).")],
    tgt: Annotated[str, typer.Option("--tgt", help="Target language code (file suffix).")],
    train: Annotated[Path, typer.Option("--train", metavar="PREFIX", help="Training corpus.")],
    valid: Annotated[
        Path, typer.Option("--valid", metavar="PREFIX", help="Validation corpus (kept as is).")
    ],
    test: Annotated[
        list[Path] | None,
        typer.Option("--test", metavar="PREFIX", help="Test corpus (kept as is); repeatable."),
    ] = None,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    vocab_size: Annotated[
        int, typer.Option("--vocab-size", help="Pieces in the joint SentencePiece model.")
    ] = 8000,
    spm_type: Annotated[
        str, typer.Option("--spm-type", help="SentencePiece model type: unigram or bpe.")
    ] = "unigram",
    max_tokens_per_sentence: Annotated[
        int,
        typer.Option(
            "--max-tokens-per-sentence", help="Drop training pairs with a longer side (pieces)."
        ),
    ] = 250,
    max_ratio: Annotated[
        float,
        typer.Option("--max-ratio", help="Drop training pairs above this length ratio."),
    ] = 3.0,
    force: Annotated[
        bool, typer.Option("--force", help="Redo it all, replacing an existing preparation.")
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Run prepare; print what was kept and dropped per split and reason."""
    request = PrepareRequest(
        workdir=workdir,
        src=src,
        tgt=tgt,
        train=train,
        valid=valid,
        tests=tuple(test or ()),
        spm=SpmSettings(type=spm_type, vocab_size=vocab_size),
        cleaning=CleaningSettings(max_tokens_per_sentence=max_tokens_per_sentence,
                                  max_ratio=max_ratio),
        force=force,
    )
    result = prepare(request, reporter(quiet))
    console = stderr_console()
    if result.up_to_date:
        console.print(f"{workdir} is up to date (same inputs and settings); nothing to do.")
        return
    console.print(summary_table(result.manifest))
    console.print(f"Prepared data in {workdir}; next: ea-mt train --workdir {workdir}")


def summary_table(manifest: dict[str, Any]) -> Table:
    """Pairs kept and dropped: one column per split, one row per reason."""
    counts = manifest["counts"]
    table = Table(title=f"Prepared {manifest['src']}→{manifest['tgt']} in pairs")
    table.add_column("", no_wrap=True)
    for split in counts:
        table.add_column(split, justify="right")
    table.add_row("input", *(str(c["pairs"]) for c in counts.values()))
    table.add_row("kept", *(str(c["kept"]) for c in counts.values()), style="bold")
    for reason in REASONS:
        cells = (str(c["dropped"][reason]) if "dropped" in c else "-" for c in counts.values())
        table.add_row(f"dropped: {REASON_HELP[reason]}", *cells)
    return table
