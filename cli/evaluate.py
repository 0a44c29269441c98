"""The ``ea-mt evaluate`` command: translate a test set and score it in one step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

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
from ea_mt.cli.score import (
    JsonOption,
    MetricsOption,
    MoreMetricsArgument,
    RefOption,
    print_scores,
)
from ea_mt.cli.translate import progress_callbacks
from ea_mt.decoding.options import DecodeOptions, InputOptions
from ea_mt.decoding.scoring import parse_metrics
from ea_mt.devices import DEFAULT_DEVICE, DEFAULT_PRECISION, set_threads
from ea_mt.modeldir import resolve_model
from ea_mt.workdir import DEFAULT_WORKDIR

HELP = (
    "Translate a test set with a trained model and score it against its references.\n\n"
    "Writes the translations to MODEL_DIR/eval/NAME.CHECKPOINT.hyp and a JSON report "
    "(scores, sacrebleu signatures, checkpoint, options, timing, warnings) to "
    "MODEL_DIR/eval/NAME.CHECKPOINT.json, where MODEL_DIR holds the checkpoint and NAME is "
    "the source file's name without its language suffix; prints the scores on stdout "
    "(a table, or the report with --json). Translation options are those of "
    "'ea-mt translate'."
)
EXAMPLES = (
    "Examples:\n\n"
    "ea-mt evaluate --src test.en --ref test.de\n\n"
    "ea-mt evaluate --src test.en --ref test.de -w runs/ende "
    "--checkpoint runs/ende/checkpoints/checkpoint_avg.pt -m bleu chrf ter --beam 4"
)


@app.command("evaluate", help=HELP, epilog=EXAMPLES)
def evaluate_command(
    src: Annotated[Path, typer.Option("--src", help="Source-language test file.")],
    ref: RefOption,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    checkpoint: CheckpointOption = None,
    metrics: MetricsOption = None,
    more_metrics: MoreMetricsArgument = None,
    beam: BeamOption = DecodeOptions.beam,
    lenpen: LenpenOption = DecodeOptions.lenpen,
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
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    from ea_mt.decoding.evaluation import evaluate
    from ea_mt.decoding.translation import Translator

    InputOptions(buffer_size=buffer_size, errors=errors).check()
    set_threads(threads)
    chosen = parse_metrics([*(metrics or []), *(more_metrics or [])])
    options = DecodeOptions(
        beam=beam,
        lenpen=lenpen,
        max_len_a=max_len_a,
        max_len_b=max_len_b,
        batch_size=batch_size,
        max_tokens=max_tokens,
        decoder=decoder,
    )
    translator = Translator(resolve_model(workdir, checkpoint), options, device, precision)
    with progress_callbacks(quiet) as (warn, on_lines):
        result = evaluate(
            src,
            ref,
            translator,
            chosen,
            buffer_size=buffer_size,
            errors=errors,
            warn=warn,
            on_lines=on_lines,
        )
    if as_json:
        typer.echo(json.dumps(result.report, indent=2, ensure_ascii=False))
    else:
        print_scores(result.scores)
    if not quiet:
        console = stderr_console()
        console.print(f"translations: {result.hyp_path}", soft_wrap=True, markup=False)
        console.print(f"report: {result.report_path}", soft_wrap=True, markup=False)
