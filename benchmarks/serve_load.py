"""Load on ``ea-mt serve``: throughput and latency of many clients sending one sentence each.

On the same sentences (`--input`, default the bundled sample; issue 13 measures Multi30k
test2016) and the same model, in one run:

1. ``ea-mt translate -i FILE`` (the batch CLI): its lines/s, as its summary reports it,
   before the server's runs and again after them (the ratios use the mean of the two);
2. ``ea-mt serve`` on 127.0.0.1 and a free port, then for each ``--clients`` level, that
   many client threads sending single sentences (``{"text": ...}``, one keep-alive
   connection each) until ``--requests`` requests are answered: sentences/s and the
   p50/p95 latency;
3. a lone client, one request at a time (``--lone`` requests): its p50 latency, against a
   direct ``Translator.translate([sentence])`` call in this process.

Targets (issue 13): at 32 clients at least 0.8x the file-translation throughput; a lone
sentence's p50 at most 1.5x the direct call's.  Every served translation is compared with
the CLI's; mismatches are counted in the report.

    python -m benchmarks.serve_load --model runs/m30k/checkpoints
    python -m benchmarks.serve_load --model DIR --sentences 40 --clients 1,8 --requests 40 \\
        --lone 5 --out /tmp/serve-load     # smoke test

Writes ``results.json`` and ``results.md`` to ``--out`` (default
``benchmarks/results/serve-load-<date>/``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from itertools import cycle
from pathlib import Path
from typing import Any

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
from ea_mt.serving.settings import ServeSettings

DEFAULT_INPUT = SAMPLE / "test.en"  # bundled; issue 13 measures ../shared/data/multi30k/test2016.en
STARTUP_TIMEOUT = 300  # seconds for `ea-mt serve` to load the model
REQUEST_TIMEOUT = 600
_SUMMARY = re.compile(r"translated (\d+) lines in ([\d.]+)s \(([\d.]+) lines/s\)")


def main() -> None:
    """Measure the CLI, the server under load and a lone client; write the report."""
    args = _parser().parse_args()
    sentences = read_sentences(args.input, args.sentences)
    out = args.out or dated_folder("serve-load")
    out.mkdir(parents=True, exist_ok=True)
    log(f"{len(sentences)} sentences of {args.input}; model {args.model}")
    file_rates = []
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        rate, reference = translate_file(args, sentences, Path(tmp))
        file_rates.append(rate)
        log(f"ea-mt translate: {rate:.1f} lines/s")
        levels = []
        with ServedProcess(args) as port:
            for clients in args.clients:
                level = load_level(port, sentences, reference, clients, args.requests)
                log(f"{clients} clients: {level['sentences_per_s']:.1f} sentences/s, "
                    f"p50 {level['p50_ms']:.0f} ms, p95 {level['p95_ms']:.0f} ms")
                levels.append(level)
            lone = load_level(port, sentences, reference, 1, args.lone)
        rate, again = translate_file(args, sentences, Path(tmp))
        if again != reference:
            fail("ea-mt translate gave other translations the second time")
        file_rates.append(rate)
        log(f"ea-mt translate, again: {rate:.1f} lines/s")
    direct = direct_latencies(args, sentences[: args.lone])
    report = build_report(args, file_rates, levels, lone, direct)
    write_json(out / "results.json", report)
    (out / "results.md").write_text(markdown(report), encoding="utf-8")
    log(f"wrote {out / 'results.json'} and {out / 'results.md'}")


def read_sentences(path: Path, count: int) -> list[str]:
    """The first ``count`` non-blank lines of ``path``."""
    if not path.is_file():
        fail(f"{path}: no such file (the Multi30k test set, or pass --input)")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[:count]


def translate_file(args: argparse.Namespace, sentences: list[str], tmp: Path
                   ) -> tuple[float, list[str]]:
    """``ea-mt translate`` on the sentences: its lines/s (model load excluded) and output."""
    source, target = tmp / "input.en", tmp / "output.de"
    source.write_text("".join(f"{s}\n" for s in sentences), encoding="utf-8")
    command = [*ea_mt_command(), "translate", "-i", str(source), "-o", str(target),
               "--checkpoint", str(args.model), *_threads(args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    match = _SUMMARY.search(done.stderr)
    if done.returncode != 0 or match is None:
        fail(f"ea-mt translate failed ({done.returncode}): {done.stderr[-2000:]}")
    return float(match.group(3)), target.read_text(encoding="utf-8").splitlines()


class ServedProcess:
    """``ea-mt serve`` in a child process on 127.0.0.1 and a free port, for a ``with``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = [*ea_mt_command(), "serve", "--checkpoint", str(self.args.model),
                   "--port", str(port), "--max-batch-size", str(self.args.max_batch_size),
                   "--max-wait-ms", str(self.args.max_wait_ms),
                   *_threads(self.args, self.args.serve_threads)]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                fail(f"ea-mt serve exited {self.process.returncode}: {' '.join(command)}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return port
            except OSError:
                time.sleep(0.5)
        fail(f"ea-mt serve did not answer within {STARTUP_TIMEOUT} s")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def load_level(port: int, sentences: list[str], reference: list[str], clients: int,
               requests: int) -> dict[str, Any]:
    """``clients`` threads send single sentences until ``requests`` are answered."""
    order = cycle(range(len(sentences)))
    lock = threading.Lock()
    latencies: list[float] = []
    mismatches = errors = 0
    sent = 0

    def client() -> None:
        nonlocal sent, mismatches, errors
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        while True:
            with lock:
                if sent >= requests:
                    break
                sent += 1
                index = next(order)
            body = json.dumps({"text": sentences[index]})
            start = time.perf_counter()
            try:
                connection.request("POST", "/translate", body,
                                   {"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = json.loads(response.read())
            except (OSError, http.client.HTTPException, ValueError):
                connection.close()  # counted; the next request reconnects
                with lock:
                    errors += 1
                continue
            seconds = time.perf_counter() - start
            with lock:
                latencies.append(seconds)
                if response.status != 200:
                    errors += 1
                elif answer["translations"][0]["text"] != reference[index]:
                    mismatches += 1
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return {
        "clients": clients,
        "requests": len(latencies),
        "seconds": wall,
        "sentences_per_s": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "errors": errors,
        "mismatches": mismatches,
    }


def direct_latencies(args: argparse.Namespace, sentences: list[str]) -> dict[str, float]:
    """p50 of ``Translator.translate([sentence])`` in this process, model loaded once."""
    from ea_mt.decoding.translation import Translator
    from ea_mt.devices import set_threads

    set_threads(args.threads)
    translator = Translator.load(checkpoint=args.model)
    translator.translate(sentences[:1])  # warm-up
    latencies = []
    for sentence in sentences:
        start = time.perf_counter()
        translator.translate([sentence])
        latencies.append(time.perf_counter() - start)
    return {"requests": len(latencies), "p50_ms": percentile(latencies, 50) * 1000}


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation); NaN for no values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def build_report(args: argparse.Namespace, file_rates: list[float], levels: list[dict],
                 lone: dict, direct: dict) -> dict[str, Any]:
    """The run's settings, conditions, measurements and the two target ratios; the file
    throughput is the mean of its runs before and after the server's."""
    top = max(levels, key=lambda level: level["clients"])
    file_rate = statistics.fmean(file_rates)
    return {
        "command": command_line("benchmarks.serve_load"),
        "finished": utc_now(),
        "machine": machine_description(),
        "load_average": load_average(),
        "versions": versions("torch", "fastapi", "uvicorn"),
        "model": str(args.model),
        "input": str(args.input),
        "sentences": args.sentences,
        "threads": args.threads,
        "serve_threads": args.serve_threads,
        "max_batch_size": args.max_batch_size,
        "max_wait_ms": args.max_wait_ms,
        "file_lines_per_s": file_rate,
        "file_lines_per_s_runs": file_rates,
        "levels": levels,
        "lone": lone,
        "direct": direct,
        "throughput_ratio": {"clients": top["clients"],
                             "ratio": top["sentences_per_s"] / file_rate, "target": 0.8},
        "lone_latency_ratio": {"ratio": lone["p50_ms"] / direct["p50_ms"], "target": 1.5},
    }


def markdown(report: dict[str, Any]) -> str:
    """``results.md``: the table per client level and the two ratios."""
    rows = [(level["clients"], level["requests"], f"{level['sentences_per_s']:.1f}",
             f"{level['sentences_per_s'] / report['file_lines_per_s']:.2f}",
             f"{level['p50_ms']:.0f}", f"{level['p95_ms']:.0f}", level["errors"],
             level["mismatches"]) for level in report["levels"]]
    table = markdown_table(["clients", "requests", "sentences/s", "x file", "p50 ms", "p95 ms",
                            "errors", "mismatches"], rows, right_from=0)
    throughput, lone = report["throughput_ratio"], report["lone_latency_ratio"]
    return "\n".join([
        "# ea-mt serve under load",
        "",
        f"`{report['command']}`, finished {report['finished']} on {report['machine']} "
        f"(load average {report['load_average']}); model {report['model']}, "
        f"{report['sentences']} sentences of {Path(report['input']).name}, "
        f"max batch {report['max_batch_size']}, max wait {report['max_wait_ms']} ms; torch "
        f"threads: {_threads_text(report['threads'])} for `ea-mt translate` and the direct "
        f"call, {_threads_text(report['serve_threads'] or report['threads'])} for the server.",
        "",
        f"`ea-mt translate` on the same sentences: {report['file_lines_per_s']:.1f} lines/s "
        f"(the mean of {', '.join(f'{rate:.1f}' for rate in report['file_lines_per_s_runs'])}:"
        " before and after the server's runs).",
        "",
        table,
        "",
        f"- {throughput['clients']} clients: {throughput['ratio']:.2f}x the file throughput "
        f"(target >= {throughput['target']}).",
        f"- a lone sentence: p50 {report['lone']['p50_ms']:.0f} ms served vs "
        f"{report['direct']['p50_ms']:.0f} ms direct, {lone['ratio']:.2f}x "
        f"(target <= {lone['target']}).",
        "",
    ])


def _threads(args: argparse.Namespace, threads: int | None = None) -> list[str]:
    """``--threads`` for a command: ``threads``, else ``--threads``, else torch's default."""
    threads = args.threads if threads is None else threads
    return [] if threads is None else ["--threads", str(threads)]


def _threads_text(threads: int | None) -> str:
    return "torch's default" if threads is None else str(threads)


def _clients(text: str) -> list[int]:
    levels = [int(part) for part in text.split(",") if part.strip()]
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a comma-separated list of counts >= 1")
    return levels


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serve_load",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--model", type=Path, required=True,
                        help="Checkpoint file or model directory.")
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="Source sentences.")
    parser.add_argument("--sentences", type=int, default=1000, help="How many of them.")
    parser.add_argument("--clients", type=_clients, default=[1, 8, 32],
                        help="Client counts, e.g. 1,8,32.")
    parser.add_argument("--requests", type=int, default=1000,
                        help="Requests answered per client level.")
    parser.add_argument("--lone", type=int, default=50, help="Requests of the lone client.")
    parser.add_argument("--max-batch-size", type=int, default=ServeSettings.max_batch_size)
    parser.add_argument("--max-wait-ms", type=float, default=ServeSettings.max_wait_ms)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads.")
    parser.add_argument("--serve-threads", type=int, default=None,
                        help="torch CPU threads of the server (default: --threads).")
    parser.add_argument("--out", type=Path, default=None, help="Folder for the report.")
    return parser


if __name__ == "__main__":
    main()
