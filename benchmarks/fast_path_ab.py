"""Before/after: ea-mt's fast decoder from two source trees, timed in turns on one machine.

    python -m benchmarks.fast_path_ab --trees BEFORE_DIR AFTER_DIR --model MODEL \\
        --source ../shared/data/multi30k/test2016.en [--rounds 2] [--out DIR]

Each tree is a checkout of ea-mt (e.g. ``git worktree add /tmp/before COMMIT``).  For every
round, each tree in turn translates the source in a fresh process that imports *its*
``ea_mt`` (``PYTHONPATH=TREE``), with the same venv and model: all lines at ``--batch``
sentences a batch, then the first ``--latency-lines`` one at a time.  Loading and one
warm-up batch are outside the timed part.  The report gives each tree's sentences/s,
target tokens/s and p50 latency per round, their ratio to the first tree, and whether
every tree wrote the same translations.  Measure on an idle machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WORKER = "--worker"
# The worker runs by path inside another checkout, which may lack this tree's
# ``benchmarks.common``: only the parent's functions import it, where they need it.


def _worker(model: str, source: str, beam: int, batch: int, threads: int,
            latency_lines: int) -> dict[str, Any]:
    """Run in the tree's own process: time its fast decoder (see the module docstring)."""
    import torch

    torch.set_num_threads(threads)
    import ea_mt
    from ea_mt.decoding.translation import Translator

    lines = [line for line in Path(source).read_text(encoding="utf-8").splitlines() if line]
    translator = Translator.load(model, beam=beam, batch_size=batch)
    translator.translate(lines[:batch])
    start = time.perf_counter()
    results = translator.translate_batch(lines)
    seconds = time.perf_counter() - start
    single = translator.with_options(batch_size=1)
    latencies = []
    for line in lines[:latency_lines]:
        start = time.perf_counter()
        single.translate([line])
        latencies.append(time.perf_counter() - start)
    texts = "\n".join(result.text for result in results)
    tokens = sum(len(result.hypotheses[0].tokens) - 1  # EOS excluded
                 for result in results if result.hypotheses)
    return {
        "ea_mt": str(Path(ea_mt.__file__).resolve().parent),
        "lines": len(lines),
        "seconds": seconds,
        "sentences_per_s": len(lines) / seconds,
        "tokens_per_s": tokens / seconds,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "output_md5": hashlib.md5(texts.encode("utf-8")).hexdigest(),
    }


def _commit(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "(not a git checkout)"


def _measure(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One timed pass of ``tree`` in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, str(Path(__file__).resolve()), WORKER, args.model, args.source,
               str(args.beam), str(args.batch), str(args.threads), str(args.latency_lines)]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True,
                          check=False)
    from benchmarks.common import fail

    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        fail(f"{tree}: the timed run failed: {tail[0]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(measured["ea_mt"]) != (tree / "ea_mt").resolve():
        fail(f"{tree}: imported ea_mt from {measured['ea_mt']} instead")
    return measured


def _markdown(report: dict[str, Any]) -> str:
    from benchmarks.common import markdown_table

    trees = report["trees"]
    first = trees[0]
    lines = [
        "# Fast decoder, before and after",
        "",
        f"- command: `{report['command']}`",
        f"- machine: {report['machine']}; {report['started']} to {report['finished']}",
        f"- model: `{report['model']}`; source: `{report['source']}` "
        f"({first['runs'][0]['lines']} lines); beam {report['beam']}, batch "
        f"{report['batch']}, {report['threads']} thread(s); p50 over the first "
        f"{report['latency_lines']} lines one at a time",
        f"- same translations in every run: {'yes' if report['identical'] else '**no**'}",
        "",
        markdown_table(
            ["tree", "commit", "round", "sent/s", "tok/s", "p50 ms"],
            ([f"`{tree['tree']}`", tree["commit"][:60], number,
              f"{run['sentences_per_s']:.1f}", f"{run['tokens_per_s']:.0f}", _fmt(run["p50_ms"])]
             for tree in trees for number, run in enumerate(tree["runs"], 1)),
            right_from=2),
        "",
        markdown_table(
            ["tree", "mean sent/s", "× first", "median p50 ms", "× first"],
            ([f"`{tree['tree']}`", f"{tree['sentences_per_s']:.1f}",
              f"{tree['sentences_per_s'] / first['sentences_per_s']:.3f}×",
              _fmt(tree["p50_ms"]), _ratio(tree["p50_ms"], first["p50_ms"])]
             for tree in trees),
            right_from=1),
    ]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _ratio(value: float | None, reference: float | None) -> str:
    return "–" if value is None or not reference else f"{value / reference:.3f}×"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fast_path_ab", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", nargs="+", type=Path, required=True,
                        help="ea-mt checkouts to compare; the first is the reference")
    parser.add_argument("--model", required=True, help="a model directory or short name")
    parser.add_argument("--source", required=True, help="source text, one sentence a line")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64, help="sentences a batch")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--latency-lines", type=int, default=200,
                        help="lines translated one at a time for the p50 (0: none)")
    parser.add_argument("--rounds", type=int, default=2, help="timed passes per tree")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default benchmarks/results/fast-path-ab-DATE/)")
    return parser


def main(argv: list[str] | None = None) -> None:
    from benchmarks.common import (
        command_line,
        dated_folder,
        fail,
        log,
        machine_description,
        utc_now,
        write_json,
    )

    args = _parser().parse_args(argv)
    for tree in args.trees:
        if not (tree / "ea_mt" / "__init__.py").is_file():
            fail(f"{tree} is not an ea-mt checkout (no ea_mt/__init__.py)")
    args.trees = [tree.resolve() for tree in args.trees]
    started = utc_now()
    runs: dict[Path, list[dict[str, Any]]] = {tree: [] for tree in args.trees}
    for number in range(1, args.rounds + 1):
        for tree in args.trees:
            log(f"round {number}: {tree}")
            runs[tree].append(_measure(tree, args))
    trees = []
    for tree, measured in runs.items():
        p50s = [run["p50_ms"] for run in measured if run["p50_ms"] is not None]
        trees.append({
            "tree": str(tree), "commit": _commit(tree), "runs": measured,
            "sentences_per_s": statistics.mean(run["sentences_per_s"] for run in measured),
            "p50_ms": statistics.median(p50s) if p50s else None,
        })
    hashes = {run["output_md5"] for measured in runs.values() for run in measured}
    report = {
        "command": command_line("benchmarks.fast_path_ab", argv), "started": started,
        "finished": utc_now(), "machine": machine_description(), "model": args.model,
        "source": args.source, "beam": args.beam, "batch": args.batch,
        "threads": args.threads, "latency_lines": args.latency_lines,
        "identical": len(hashes) == 1, "trees": trees,
    }
    out = args.out or dated_folder("fast-path-ab")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", report)
    (out / "results.md").write_text(_markdown(report), encoding="utf-8")
    log(f"report: {out / 'results.md'}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER:
        model, source, beam, batch, threads, latency = sys.argv[2:8]
        print(json.dumps(_worker(model, source, int(beam), int(batch), int(threads),
                                 int(latency))))
    else:
        main()
