"""Streaming memory of ``ea-mt translate``: peak RSS and lines/s per segment of a long run.

Runs the real command (``ea-mt translate -i FILE -o OUT``) in a child process on a
generated file of short real sentences (the bundled Tatoeba test set, cycled), watches
the output grow and samples the child's ``VmRSS``/``VmHWM`` from ``/proc`` every
``--poll`` seconds.  Each segment (``--segments`` equal slices of the input) reports its
lines/s and the resident memory when it ended, so a growing footprint or a falling
throughput shows up segment by segment.

    python -m benchmarks.translate_memory                       # 1,000,000 lines, beam 1
    python -m benchmarks.translate_memory --lines 20000 --segments 4   # smoke test
    python -m benchmarks.translate_memory --model DIR           # an existing model directory

Without ``--model`` a tiny EA model is trained first (``ea_transformer_tiny``, a few
hundred updates on 2,000 pairs of the bundled sample; about a minute).  Writes
``results.json`` and ``results.md`` to ``--out`` (default
``benchmarks/results/translate-memory-<date>/``); the model, input and output live in a
temporary folder under the repository's git-ignored ``runs/``, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import subprocess
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from benchmarks.common import (
    RUNS,
    SAMPLE,
    command_line,
    dated_folder,
    ea_mt_command,
    log,
    machine_description,
    markdown_table,
    process_memory_kib,
    utc_now,
    write_json,
)
from ea_mt.decoding.options import InputOptions

TRAIN_PAIRS = 2000


def main() -> None:
    """Train or load the model, translate the generated file, write the report."""
    args = _parser().parse_args()
    out = args.out or dated_folder("translate-memory")
    out.mkdir(parents=True, exist_ok=True)
    RUNS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="translate-memory-", dir=RUNS) as tmp_name:
        tmp = Path(tmp_name)
        model = args.model or train_tiny_model(tmp / "work", args.updates)
        source = tmp / "input.en"
        write_input(source, args.lines)
        command = [
            *ea_mt_command(), "translate", "--checkpoint", str(model),
            "-i", str(source), "-o", str(tmp / "output.de"), "--beam", str(args.beam),
            "--buffer-size", str(args.buffer_size), "--max-len-a", "1.2", "--max-len-b", "10",
            "--threads", "1", "-q",
        ]  # fmt: skip
        result = run_and_watch(command, tmp / "output.de", args.lines, args.segments, args.poll)
    result |= {
        "command": command_line("benchmarks.translate_memory"),
        "translate_command": shlex.join(command[1:]),
        "lines": args.lines,
        "beam": args.beam,
        "max_len": "1.2 * source pieces + 10",
        "buffer_size": args.buffer_size,
        "input": f"{SAMPLE / 'test.en'} (500 short sentences) cycled",
        "model": "trained here: ea_transformer_tiny" if args.model is None else str(args.model),
        "machine": machine_description(),
        "date": utc_now(),
    }
    write_json(out / "results.json", result)
    (out / "results.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    log(f"wrote {out}/results.json and results.md")


def _parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="Input lines.")
    parser.add_argument("--segments", type=int, default=10, help="Equal slices reported.")
    parser.add_argument("--beam", type=int, default=1, help="Beam size (1: greedy).")
    parser.add_argument("--buffer-size", type=int, default=InputOptions.buffer_size,
                        help="translate --buffer-size")
    parser.add_argument("--model", type=Path, help="Model directory or checkpoint to use.")
    parser.add_argument("--updates", type=int, default=300, help="Updates of the tiny model.")
    parser.add_argument("--poll", type=float, default=0.5, help="Seconds between samples.")
    parser.add_argument("--out", type=Path, help="Results folder.")
    return parser


def train_tiny_model(workdir: Path, updates: int) -> Path:
    """Prepare 2,000 pairs of the bundled sample and train ``ea_transformer_tiny`` on them."""
    from ea_mt.data.prepare import PrepareRequest, prepare
    from ea_mt.data.spm import SpmSettings
    from ea_mt.training.train import TrainOptions, plan_training, run_training

    raw = workdir.parent / "raw"
    raw.mkdir(parents=True)
    for split, size in (("train", TRAIN_PAIRS), ("valid", 100)):
        for lang in ("en", "de"):
            with (SAMPLE / f"{split}.{lang}").open(encoding="utf-8") as f:
                (raw / f"{split}.{lang}").write_text("".join(islice(f, size)), encoding="utf-8")
    prepare(PrepareRequest(workdir=workdir, src="en", tgt="de", train=raw / "train",
                           valid=raw / "valid", spm=SpmSettings(vocab_size=1000)))
    options = TrainOptions(arch="ea_transformer_tiny", lr=3e-3, warmup=50, max_tokens=1024,
                           max_update=updates, eval_bleu=False, device="cpu", threads=1)
    run_training(plan_training(workdir, options))
    return workdir / "checkpoints" / "checkpoint_last.pt"


def write_input(path: Path, lines: int) -> None:
    """``lines`` lines cycled from the bundled test set's 500 English sentences."""
    sentences = (SAMPLE / "test.en").read_text(encoding="utf-8").splitlines()
    with path.open("w", encoding="utf-8") as out:
        for line in islice(cycle(sentences), lines):
            out.write(line + "\n")


def run_and_watch(
    command: list[str], output: Path, lines: int, segments: int, poll: float
) -> dict[str, Any]:
    """Run ``command``; per segment of the output: seconds, lines/s and RSS at its end."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env)
    bounds = [lines * (i + 1) // segments for i in range(segments)]
    marks: list[dict[str, Any]] = []
    samples: list[dict[str, float]] = []
    done = 0
    offset = 0
    while True:
        finished = child.poll() is not None
        done, offset = _count_lines(output, done, offset)
        now = time.perf_counter() - start
        memory = _memory(child.pid) if not finished else {}
        if memory:
            samples.append({"t": round(now, 2), "lines": done, **memory})
        else:  # the child has exited: its last sample stands for its end
            memory = {k: v for k, v in (samples or [{}])[-1].items() if k.endswith("_mib")}
        while len(marks) < segments and done >= bounds[len(marks)]:
            marks.append({"lines": bounds[len(marks)], "t": now, **memory})
        if finished:
            break
        time.sleep(poll)
    if child.returncode != 0:
        raise SystemExit(f"translate exited with {child.returncode}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rows = []
    previous = {"lines": 0, "t": _first_output(samples)}
    for index, mark in enumerate(marks):
        seconds = mark["t"] - previous["t"]
        rows.append({
            "segment": index + 1,
            "lines": f"{previous['lines'] + 1}-{mark['lines']}",
            "seconds": round(seconds, 1),
            # two segments ending within one poll: no time measured, no rate
            "lines_per_s": round((mark["lines"] - previous["lines"]) / seconds, 1)
            if seconds > 0 else None,
            "rss_mib": mark.get("rss_mib"),
            "hwm_mib": mark.get("hwm_mib"),
        })
        previous = mark
    return {
        "output_lines": done,
        "wall_s": round(time.perf_counter() - start, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "segments": rows,
        "samples": samples,
    }


def _first_output(samples: list[dict[str, float]]) -> float:
    """When the first translations appeared: model loading is not translation time."""
    return next((s["t"] for s in samples if s["lines"] > 0), 0.0)


def _count_lines(path: Path, count: int, offset: int) -> tuple[int, int]:
    """``count`` plus the lines the file gained after ``offset``, and its new end."""
    if not path.exists():
        return count, offset
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    return count + data.count(b"\n"), offset + len(data)


def _memory(pid: int) -> dict[str, float]:
    """The process's resident (VmRSS) and peak resident (VmHWM) memory in MiB."""
    try:
        memory = process_memory_kib(pid)
    except OSError:
        return {}
    return {f"{key[2:].lower()}_mib": round(kib / 1024, 1) for key, kib in memory.items()}


def markdown(result: dict[str, Any]) -> str:
    """The per-segment table and the totals."""
    keys = ("segment", "lines", "seconds", "lines_per_s", "rss_mib", "hwm_mib")
    table = markdown_table(["segment", "lines", "seconds", "lines/s", "VmRSS MiB", "VmHWM MiB"],
                           [[row[key] for key in keys] for row in result["segments"]])
    return (f"{result['output_lines']:,} lines in {result['wall_s']} s; "
            f"peak RSS {result['peak_rss_mib']} MiB (getrusage of the translate process)\n\n"
            f"{table}\n")


if __name__ == "__main__":
    main()
