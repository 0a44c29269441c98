"""Start-up time of the ``ea-mt`` commands that load no model, against sacreBLEU's CLI.

    python -m benchmarks.startup [--repeat N] [--out DIR]

Times, as wall-clock seconds of a fresh process each, ``ea-mt --version``, ``ea-mt --help``,
``ea-mt CMD --help`` for every command, ``ea-mt score`` on the bundled sample's test set
and ``python -c "import ea_mt"``, with ``sacrebleu --version`` (the reference) and
``python -c pass`` (the interpreter alone) for scale.  The commands take turns, round
after round, so a change in the machine's load falls on all of them alike; one warm-up
round first fills the page and bytecode caches.  Writes results.md and results.json to
--out (default benchmarks/results/startup-DATE).  Measure on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    SAMPLE,
    command_line,
    dated_folder,
    ea_mt_command,
    fail,
    load_average,
    log,
    machine_description,
    markdown_table,
    utc_now,
    versions,
    write_json,
)

REFERENCE = "sacrebleu --version"
DEFAULT_REPEAT = 10


def commands(score_files: tuple[Path, Path]) -> dict[str, list[str]]:
    """Each timed command line by its label, the reference first."""
    import typer
    from typer.main import get_command

    from ea_mt.cli.main import app

    ea_mt = ea_mt_command()
    sacrebleu = str(Path(sys.executable).parent / "sacrebleu")
    group = get_command(app)
    names = group.list_commands(typer.Context(group))
    ref, hyp = score_files
    lines = len(ref.read_text(encoding="utf-8").splitlines())
    timed = {
        REFERENCE: [sacrebleu, "--version"],
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import ea_mt"': [sys.executable, "-c", "import ea_mt"],
        "ea-mt --version": [*ea_mt, "--version"],
        "ea-mt --help": [*ea_mt, "--help"],
    }
    timed |= {f"ea-mt {name} --help": [*ea_mt, name, "--help"] for name in names}
    timed[f"ea-mt score ({lines} lines, BLEU+chrF)"] = [*ea_mt, "score", "--ref", str(ref),
                                                   "--hyp", str(hyp)]
    return timed


def score_pair(folder: Path) -> tuple[Path, Path]:
    """The sample's German test set as reference, and as hypothesis each line's successor."""
    lines = (SAMPLE / "test.de").read_text(encoding="utf-8").splitlines(keepends=True)
    ref, hyp = folder / "ref.de", folder / "hyp.de"
    ref.write_text("".join(lines), encoding="utf-8")
    hyp.write_text("".join(lines[1:] + lines[:1]), encoding="utf-8")
    return ref, hyp


def wall_seconds(argv: list[str]) -> float:
    """Wall-clock seconds of one run of ``argv``; it must succeed."""
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        fail(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return seconds


def measure(timed: dict[str, list[str]], repeat: int) -> dict[str, list[float]]:
    """``repeat`` runs of each command, in turns, after one warm-up round."""
    for argv in timed.values():
        wall_seconds(argv)
    runs: dict[str, list[float]] = {label: [] for label in timed}
    for round_number in range(1, repeat + 1):
        log(f"round {round_number}/{repeat}")
        for label, argv in timed.items():
            runs[label].append(wall_seconds(argv))
    return runs


def summarise(runs: dict[str, list[float]]) -> list[dict[str, object]]:
    """Median, min and max per command, and the median against the reference's."""
    reference = statistics.median(runs[REFERENCE])
    return [
        {
            "command": label,
            "median_s": round(statistics.median(times), 4),
            "min_s": round(min(times), 4),
            "max_s": round(max(times), 4),
            "vs_reference": round(statistics.median(times) / reference, 2),
            "runs_s": [round(t, 4) for t in times],
        }
        for label, times in runs.items()
    ]


def markdown(report: dict[str, object]) -> str:
    """results.md: the setting, then one row per command."""
    rows = [
        (f"`{r['command']}`", f"{r['median_s']:.3f}", f"{r['min_s']:.3f}", f"{r['max_s']:.3f}",
         f"{r['vs_reference']:.2f}×")
        for r in report["results"]  # type: ignore[union-attr]
    ]
    table = markdown_table(["command", "median s", "min s", "max s", f"vs `{REFERENCE}`"],
                           rows, right_from=1)
    return (
        "# Start-up time of the ea-mt commands\n\n"
        f"`{report['command_line']}` at {report['created']} on {report['machine']}, "
        f"load average {report['load_average_before']} before, "
        f"{report['load_average_after']} after; {report['repeat']} runs of each command "
        "in turns, after one warm-up round; wall-clock seconds of a fresh process.\n\n"
        f"{table}\n\nVersions: "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items())  # type: ignore[union-attr]
        + ".\n"
    )


def main(argv: list[str] | None = None) -> None:
    """Parse the options, time the commands, write results.md and results.json."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT,
                        help=f"runs of each command (default {DEFAULT_REPEAT})")
    parser.add_argument("--out", type=Path, help="output folder "
                        "(default benchmarks/results/startup-DATE)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        fail("--repeat must be at least 1")
    out = args.out or dated_folder("startup")
    before = load_average()
    created = utc_now()
    with tempfile.TemporaryDirectory() as folder:
        timed = commands(score_pair(Path(folder)))
        runs = measure(timed, args.repeat)
    report = {
        "command_line": command_line("benchmarks.startup", sys.argv[1:] if argv is None
                                     else argv),
        "created": created,
        "machine": machine_description(),
        "load_average_before": before,
        "load_average_after": load_average(),
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "versions": versions("ea-mt", "sacrebleu", "typer", "torch"),
        "reference": REFERENCE,
        "commands": {label: argv_ for label, argv_ in timed.items()},
        "results": summarise(runs),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", report)
    (out / "results.md").write_text(markdown(report), encoding="utf-8")
    log(f"wrote {out / 'results.md'} and results.json")


if __name__ == "__main__":
    main()
