"""The ``ea-mt score`` command: sacrebleu corpus scores, signatures, paired significance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ea_mt.cli.app import app
from ea_mt.cli.progress import stdout_console
from ea_mt.decoding.scoring import (
    BOOTSTRAP_SAMPLES,
    DEFAULT_METRICS,
    METRICS,
    MetricScore,
    score_files,
)
from ea_mt.textio import stdout_errors

HELP = (
    "Score translations against one or more references with sacrebleu.\n\n"
    "Scores and signatures are exactly those of the sacrebleu command on the same files. "
    "Hypotheses and every reference must be UTF-8 with one sentence per line and the same "
    "number of lines. With --baseline, sacrebleu's paired bootstrap resampling test "
    "('sacrebleu -i BASELINE HYP --paired-bs', seed 12345 unless SACREBLEU_SEED is set) "
    "gives a p-value for the difference between the two systems. "
    "Prints a table, or JSON with --json, on stdout."
)
EXAMPLES = (
    "Examples:\n\n"
    "ea-mt score --ref test.de --hyp test.hyp.de\n\n"
    "ea-mt translate -i test.en | ea-mt score --ref test.de -m bleu chrf ter\n\n"
    "ea-mt score --ref test.de --ref test.alt.de --hyp new.de --baseline old.de --json"
)
MetricsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--metrics",
        "-m",
        help=f"Metrics among {', '.join(METRICS)}: '-m bleu chrf', '-m bleu,chrf' or "
        f"repeated (default: {' '.join(DEFAULT_METRICS)}).",
    ),
]
RefOption = Annotated[
    list[Path],
    typer.Option("--ref", "-r", help="Reference file; repeat for several references."),
]
SIGNIFICANT = 0.05
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
MoreMetricsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="METRIC", show_default=False, help="More metrics (so '-m bleu chrf' works)."
    ),
]


@app.command("score", help=HELP, epilog=EXAMPLES)
def score_command(
    ref: RefOption,
    hyp: Annotated[
        Path | None, typer.Option("--hyp", help="Hypothesis file (default: stdin).")
    ] = None,
    metrics: MetricsOption = None,
    more_metrics: MoreMetricsArgument = None,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="Another system's output: add a paired bootstrap test."),
    ] = None,
    bootstrap_samples: Annotated[
        int, typer.Option("--bootstrap-samples", help="Resamples of the paired bootstrap test.")
    ] = BOOTSTRAP_SAMPLES,
    as_json: JsonOption = False,
) -> None:
    report = score_files(
        hyp, ref, [*(metrics or []), *(more_metrics or [])], baseline, bootstrap_samples
    )
    with stdout_errors():
        if as_json:
            typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        else:
            print_scores(report.scores)


def print_scores(scores: list[MetricScore]) -> None:
    """A table of scores (and the paired test, if any) on stdout, signatures below it."""
    paired = any(s.significance is not None for s in scores)
    table = Table(show_edge=False)
    table.add_column("metric")
    if paired:
        table.add_column("baseline", justify="right")
    table.add_column("score", justify="right")
    if paired:
        table.add_column("p-value", justify="right")
    for s in scores:
        row = [s.metric]
        if s.significance is not None:
            test = s.significance
            row += [
                f"{test.baseline_score:.2f} ({test.baseline_mean:.2f} ± {test.baseline_ci:.2f})",
                f"{s.score:.2f} ({test.system_mean:.2f} ± {test.system_ci:.2f})",
                f"{test.p_value:.4f}" + ("*" if test.p_value < SIGNIFICANT else ""),
            ]
        else:
            row.append(f"{s.score:.2f}")
        table.add_row(*row)
    console = stdout_console()
    console.print(table)
    for s in scores:
        signature = s.significance.signature if s.significance else s.signature
        console.print(f"{s.metric}: {signature}", soft_wrap=True, markup=False)
    if paired:
        console.print(
            f"paired bootstrap resampling: score (mean ± 95% CI); p-value of the difference "
            f"from the baseline, * when below {SIGNIFICANT}",
            soft_wrap=True,
        )
