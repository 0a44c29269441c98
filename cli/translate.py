"""The ``ea-mt translate`` command: raw text in, detokenised translations out."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ea_mt.cli.app import app
from ea_mt.cli.options import WorkdirOption
from ea_mt.cli.progress import QuietOption, stderr_console
from ea_mt.decoding.alignment import check_layer
from ea_mt.decoding.translation import (
    DEVICES,
    PRECISIONS,
    DecodeOptions,
    TranslationStats,
    Translator,
    translate_file,
)
from ea_mt.errors import UserError
from ea_mt.modeldir import resolve_model
from ea_mt.textio import ERROR_MODES
from ea_mt.workdir import DEFAULT_WORKDIR

HELP = (
    "Translate raw text with a trained model: one detokenised translation per input line.\n\n"
    "Reads UTF-8 text (stdin or --input), writes exactly one line per input line, in order "
    "(stdout or --output). Blank lines stay blank without reaching the model; a line longer "
    "than the model's source positions is truncated, with a warning on stderr naming it, "
    "never dropped. Input is read --buffer-size lines at a time and sorted by length into "
    "batches inside each buffer, so files of any size stream through. Warnings (truncated "
    "lines, translations cut at the length limit, empty translations) name the lines on "
    "stderr; a summary with lines/s follows unless --quiet.\n\n"
    "With --nbest N the output is header-free TSV instead, N rows per input line: "
    "line_no<TAB>rank<TAB>score<TAB>hypothesis (line_no from 1, rank from 1, score: "
    "fairseq's length-normalised log-probability; a blank input line gives one row "
    "'line_no<TAB>1<TAB><TAB>').\n\n"
    "With --print-alignment each line is 'translation ||| 0-0 1-2 ...' (with --nbest: a fifth "
    "TSV column): hard word alignments, source-target, from the head-averaged cross attention "
    "of decoder layer --alignment-layer (default: the last), teacher-forced on the "
    "translation. Each target piece is linked to its most attended source piece, as fairseq "
    "does; words are the whitespace-separated tokens of the translation and of the source "
    "(as SentencePiece normalises it), numbered from 0, pairs sorted by target word. A blank "
    "input line stays blank."
)
EXAMPLES = (
    "Examples:\n\n"
    "echo 'How are you?' | ea-mt translate\n\n"
    "ea-mt translate -i test.en -o test.hyp.de -w runs/ende --beam 4 --batch-size 128\n\n"
    "ea-mt translate -i test.en --checkpoint runs/ende/checkpoints/checkpoint_avg.pt --nbest 5\n\n"
    "ea-mt translate -i test.en --print-alignment --alignment-layer 1"
)

CheckpointOption = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        help="Checkpoint file, or a model directory (default: checkpoint_best.pt, "
        "else checkpoint_last.pt, in WORKDIR/checkpoints).",
    ),
]
SrcOption = Annotated[
    str | None, typer.Option("--src", help="Source language; checked against the model.")
]
TgtOption = Annotated[
    str | None, typer.Option("--tgt", help="Target language; checked against the model.")
]
BeamOption = Annotated[int, typer.Option("--beam", help="Beam size.")]
LenpenOption = Annotated[
    float, typer.Option("--lenpen", help="Length penalty (>1 favours longer output).")
]
MaxLenAOption = Annotated[
    float,
    typer.Option(
        "--max-len-a",
        help="Output length limit a*source_length+b (source_length: the longest in the batch).",
    ),
]
MaxLenBOption = Annotated[int, typer.Option("--max-len-b", help="See --max-len-a.")]
BatchSizeOption = Annotated[int, typer.Option("--batch-size", help="Sentences per batch.")]
MaxTokensOption = Annotated[
    int | None,
    typer.Option("--max-tokens", help="Also cap a batch at this many (padded) source pieces."),
]
BufferSizeOption = Annotated[
    int, typer.Option("--buffer-size", help="Lines read, sorted and translated at a time.")
]
DeviceOption = Annotated[
    str, typer.Option("--device", help=f"One of {', '.join(DEVICES)} (auto: CUDA if present).")
]
PrecisionOption = Annotated[
    str, typer.Option("--precision", help=f"One of {', '.join(PRECISIONS)}; half needs CUDA.")
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="CPU threads for torch (default: torch's own). On a busy machine --threads 1 "
        "can be several times faster.",
    ),
]
PrintAlignmentOption = Annotated[
    bool,
    typer.Option("--print-alignment", help="Append word alignments to each line (see above)."),
]
AlignmentLayerOption = Annotated[
    int | None,
    typer.Option(
        "--alignment-layer",
        help="Decoder layer, from 0, whose cross attention aligns (default: the last).",
    ),
]
ErrorsOption = Annotated[
    str,
    typer.Option(
        "--errors", help="Invalid UTF-8 input: strict (stop with the line number) or replace."
    ),
]


@app.command("translate", help=HELP, epilog=EXAMPLES)
def translate_command(
    input_path: Annotated[
        Path | None, typer.Option("--input", "-i", help="Input file (default: stdin).")
    ] = None,
    output_path: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output file (default: stdout).")
    ] = None,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    checkpoint: CheckpointOption = None,
    src: SrcOption = None,
    tgt: TgtOption = None,
    beam: BeamOption = 5,
    lenpen: LenpenOption = 1.0,
    nbest: Annotated[
        int | None,
        typer.Option("--nbest", help="Write the N best hypotheses per line as TSV (see above)."),
    ] = None,
    print_alignment: PrintAlignmentOption = False,
    alignment_layer: AlignmentLayerOption = None,
    max_len_a: MaxLenAOption = 0.0,
    max_len_b: MaxLenBOption = 200,
    batch_size: BatchSizeOption = 64,
    max_tokens: MaxTokensOption = None,
    buffer_size: BufferSizeOption = 2000,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "fp32",
    threads: ThreadsOption = None,
    errors: ErrorsOption = "strict",
    quiet: QuietOption = False,
) -> None:
    check_choices(errors=errors, threads=threads)
    options = DecodeOptions(
        beam=beam,
        lenpen=lenpen,
        nbest=1 if nbest is None else nbest,
        max_len_a=max_len_a,
        max_len_b=max_len_b,
        batch_size=batch_size,
        max_tokens=max_tokens,
    )
    if alignment_layer is not None and not print_alignment:
        raise UserError("--alignment-layer needs --print-alignment")
    translator = Translator(
        resolve_model(workdir, checkpoint, src, tgt), options, device, precision
    )
    layer = check_layer(translator.model, alignment_layer) if print_alignment else None
    with progress_callbacks(quiet) as (warn, on_lines), stdout_pipe_guard():
        stats = translate_file(
            input_path,
            output_path,
            translator=translator,
            buffer_size=buffer_size,
            errors=errors,
            nbest_tsv=nbest is not None,
            alignment_layer=layer,
            warn=warn,
            on_lines=on_lines,
        )
    if not quiet:
        stderr_console().print(summary(stats), soft_wrap=True)


def check_choices(errors: str, threads: int | None) -> None:
    """Check --errors and apply --threads (shared with evaluate)."""
    if errors not in ERROR_MODES:
        raise UserError(f"--errors must be one of {', '.join(ERROR_MODES)}, not {errors!r}")
    if threads is not None:
        if threads < 1:
            raise UserError(f"--threads must be at least 1, not {threads}")
        torch.set_num_threads(threads)


def summary(stats: TranslationStats) -> str:
    """One line on what a translation run did."""
    return (
        f"translated {stats.lines} lines in {stats.seconds:.1f}s "
        f"({stats.lines_per_second:.1f} lines/s); truncated {len(stats.truncated)}, "
        f"stopped at max length {len(stats.hit_max_len)}, empty {len(stats.empty)}"
    )


@contextmanager
def progress_callbacks(
    quiet: bool,
) -> Iterator[tuple[Callable[[str], None], Callable[[int], None] | None]]:
    """A warning printer and a lines-done callback showing lines/s on stderr.

    Warnings are printed even with --quiet; the progress line only on a terminal.
    """
    console = stderr_console()

    def warn(message: str) -> None:
        console.print(f"ea-mt: warning: {message}", markup=False, soft_wrap=True)

    if quiet or not console.is_terminal:
        yield warn, None
        return
    columns = [
        SpinnerColumn(),
        TextColumn("translated {task.completed} lines, {task.fields[rate]} lines/s"),
        TimeElapsedColumn(),
    ]
    start = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("translate", total=None, rate="-")

        def on_lines(count: int) -> None:
            done = progress.tasks[0].completed + count
            rate = done / max(time.perf_counter() - start, 1e-9)
            progress.update(task, completed=done, rate=f"{rate:.1f}")

        yield warn, on_lines


@contextmanager
def stdout_pipe_guard() -> Iterator[None]:
    """End quietly when the reader of stdout goes away (``ea-mt translate | head``)."""
    try:
        yield
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(141) from None
