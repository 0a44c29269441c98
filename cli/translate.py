"""The ``ea-mt translate`` command: raw text in, detokenised translations out."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ea_mt.cli.app import app
from ea_mt.cli.options import (
    BatchSizeOption,
    BeamOption,
    BufferSizeOption,
    CheckpointOption,
    DecoderOption,
    DeviceOption,
    ErrorsOption,
    LenpenOption,
    MaxLenAOption,
    MaxLenBOption,
    MaxTokensOption,
    PrecisionOption,
    ThreadsOption,
    WorkdirOption,
)
from ea_mt.cli.progress import QuietOption, stderr_console
from ea_mt.decoding.options import DecodeOptions, InputOptions
from ea_mt.devices import DEFAULT_DEVICE, DEFAULT_PRECISION, set_threads
from ea_mt.errors import UserError
from ea_mt.modeldir import resolve_model
from ea_mt.workdir import DEFAULT_WORKDIR

if TYPE_CHECKING:
    from ea_mt.decoding.translation import TranslationStats

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
    "echo 'How are you?' | ea-mt translate --checkpoint tatoeba-en-de-ea   (a bundled model)\n\n"
    "ea-mt translate -i test.en -o test.hyp.de -w runs/ende --beam 4 --batch-size 128\n\n"
    "ea-mt translate -i test.en --checkpoint runs/ende/checkpoints/checkpoint_avg.pt --nbest 5\n\n"
    "ea-mt translate -i test.en --print-alignment --alignment-layer 1"
)

SrcOption = Annotated[
    str | None, typer.Option("--src", help="Source language; checked against the model.")
]
TgtOption = Annotated[
    str | None, typer.Option("--tgt", help="Target language; checked against the model.")
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
    beam: BeamOption = DecodeOptions.beam,
    lenpen: LenpenOption = DecodeOptions.lenpen,
    nbest: Annotated[
        int | None,
        typer.Option("--nbest", help="Write the N best hypotheses per line as TSV (see above)."),
    ] = None,
    print_alignment: PrintAlignmentOption = False,
    alignment_layer: AlignmentLayerOption = None,
    max_len_a: MaxLenAOption = DecodeOptions.max_len_a,
    max_len_b: MaxLenBOption = DecodeOptions.max_len_b,
    batch_size: BatchSizeOption = DecodeOptions.batch_size,
    max_tokens: MaxTokensOption = DecodeOptions.max_tokens,
    decoder: DecoderOption = DecodeOptions.decoder,
    buffer_size: BufferSizeOption = InputOptions.buffer_size,
    device: DeviceOption = DEFAULT_DEVICE,
    precision: PrecisionOption = DEFAULT_PRECISION,
    threads: ThreadsOption = None,
    errors: ErrorsOption = InputOptions.errors,
    quiet: QuietOption = False,
) -> None:
    from ea_mt.decoding.alignment import check_layer
    from ea_mt.decoding.translation import Translator, translate_file

    InputOptions(buffer_size=buffer_size, errors=errors).check()
    set_threads(threads)
    options = DecodeOptions(
        beam=beam,
        lenpen=lenpen,
        nbest=DecodeOptions.nbest if nbest is None else nbest,
        max_len_a=max_len_a,
        max_len_b=max_len_b,
        batch_size=batch_size,
        max_tokens=max_tokens,
        decoder=decoder,
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
