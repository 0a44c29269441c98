"""Decoding speed of ea-mt's fast beam search against fairseq's SequenceGenerator (issue 14).

    python -m benchmarks.fast_decoding --model NAME=MODEL_DIR_OR_PT [--model ...]
        [--source FILE] [--limit N] [--beams 5,1] [--batches 64,1] [--threads 1,2]
        [--rounds R] [--out DIR]

For every model, beam, batch size and thread count, the two decoders take turns on the
same sorted, left-padded batches of ``--source`` (default the bundled sample's test.en;
issue 14 measures ``../shared/data/multi30k/test2016.en``), round
after round, so a change in the machine's load falls on both alike; a warm-up batch
first.  Reports target tokens/s, sentences/s, the p50 latency per sentence, how many
lines both decoders translate identically, and the fast path's speed-up, in results.json
and results.md under --out (default benchmarks/results/fast-decoding-DATE).  Measure on
an idle machine.  CTranslate2 and int8 are not part of this skeleton yet.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from fairseq.data.data_utils import collate_tokens
from fairseq.sequence_generator import SequenceGenerator

from benchmarks.common import (
    SAMPLE,
    command_line,
    dated_folder,
    fail,
    load_average,
    log,
    machine_description,
    markdown_table,
    utc_now,
    versions,
    write_json,
)
from ea_mt.decoding.beam_search import FastBeamSearch
from ea_mt.decoding.translation import Translator

DEFAULT_SOURCE = SAMPLE / "test.en"  # the bundled sample; Multi30k: --source PATH
Decode = Callable[[dict[str, Any]], list]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fast_decoding")
    parser.add_argument("--model", action="append", required=True, metavar="NAME=PATH",
                        help="a model directory or checkpoint, named in the report")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--limit", type=int, default=None, help="first N source lines only")
    parser.add_argument("--beams", default="5,1")
    parser.add_argument("--batches", default="64,1")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args(argv)


def integers(text: str) -> list[int]:
    return [int(item) for item in text.split(",") if item.strip()]


def samples(translator: Translator, lines: list[str], batch: int) -> list[dict[str, Any]]:
    """The lines as fairseq samples, longest first and left-padded, as Translator batches."""
    src = translator.src_dict
    pieces = translator.sp.encode(lines, out_type=str)
    sources = sorted(
        (torch.tensor([src.index(p) for p in ps[: translator.max_source_pieces]] + [src.eos()])
         for ps in pieces),
        key=len, reverse=True,
    )
    return [
        {"net_input": {
            "src_tokens": collate_tokens(sources[i : i + batch], src.pad(), left_pad=True),
            "src_lengths": torch.tensor([len(s) for s in sources[i : i + batch]]),
        }}
        for i in range(0, len(sources), batch)
    ]


def decoders(translator: Translator, beam: int) -> dict[str, Decode]:
    """fairseq's SequenceGenerator and the fast search, with the same options."""
    model, tgt = translator.model, translator.tgt_dict
    fairseq = SequenceGenerator([model], tgt, beam_size=beam)
    fast = FastBeamSearch(model, tgt, beam_size=beam)
    return {
        "fairseq": lambda sample: fairseq.generate([model], sample),
        "fast": lambda sample: fast.generate([model], sample),
    }


def measure(decode: dict[str, Decode], batches: list[dict[str, Any]], rounds: int) -> dict:
    """Alternate the decoders batch by batch; per decoder: seconds, tokens, outputs."""
    with torch.inference_mode():
        for run in decode.values():
            run(batches[0])  # warm-up
        stats = {name: {"seconds": [], "latency": [], "tokens": 0, "outputs": []}
                 for name in decode}
        for round_ in range(rounds):
            for sample in batches:
                for name, run in decode.items():
                    start = time.perf_counter()
                    hypotheses = run(sample)
                    seconds = time.perf_counter() - start
                    entry = stats[name]
                    entry["seconds"].append(seconds)
                    entry["latency"].append(seconds / len(hypotheses))
                    if round_ == 0:
                        entry["tokens"] += sum(len(h[0]["tokens"]) for h in hypotheses)
                        entry["outputs"] += [h[0]["tokens"].tolist() for h in hypotheses]
    return stats


def summarise(stats: dict, rounds: int, lines: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, entry in stats.items():
        seconds = sum(entry["seconds"]) / rounds
        row[name] = {
            "tokens_per_s": entry["tokens"] / seconds,
            "sentences_per_s": lines / seconds,
            "p50_latency_ms": 1000 * statistics.median(entry["latency"]),
        }
    same = sum(a == b for a, b in zip(stats["fairseq"]["outputs"], stats["fast"]["outputs"],
                                      strict=True))
    row["identical_lines"] = same / lines
    row["speedup"] = row["fast"]["tokens_per_s"] / row["fairseq"]["tokens_per_s"]
    return row


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.source.is_file():
        fail(f"--source {args.source}: no such file")
    lines = [line for line in args.source.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = lines[: args.limit]
    results: dict[str, Any] = {
        "command": command_line("benchmarks.fast_decoding", argv),
        "started": utc_now(), "machine": machine_description(),
        "versions": versions("torch", "ve-fairseq"), "load_before": load_average(), "runs": [],
    }
    for spec in args.model:
        name, _, path = spec.partition("=")
        translator = Translator.load(checkpoint=Path(path), device="cpu")
        for threads in integers(args.threads):
            torch.set_num_threads(threads)
            for beam in integers(args.beams):
                for batch in integers(args.batches):
                    log(f"{name}: beam {beam}, batch {batch}, {threads} thread(s)")
                    stats = measure(decoders(translator, beam), samples(translator, lines, batch),
                                    args.rounds)
                    results["runs"].append({"model": name, "beam": beam, "batch": batch,
                                            "threads": threads,
                                            **summarise(stats, args.rounds, len(lines))})
    results["load_after"] = load_average()
    out = args.out or dated_folder("fast-decoding")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", results)
    rows = [(r["model"], r["beam"], r["batch"], r["threads"],
             f"{r['fairseq']['tokens_per_s']:.0f}", f"{r['fast']['tokens_per_s']:.0f}",
             f"{r['speedup']:.2f}", f"{r['fast']['p50_latency_ms']:.1f}",
             f"{100 * r['identical_lines']:.1f}")
            for r in results["runs"]]
    table = markdown_table(["model", "beam", "batch", "threads", "fairseq tok/s", "fast tok/s",
                            "speed-up", "fast p50 ms/sent", "identical %"], rows)
    (out / "results.md").write_text(f"# Fast decoding\n\n`{results['command']}`\n\n{table}\n",
                                    encoding="utf-8")
    log(f"wrote {out}/results.md")


if __name__ == "__main__":
    main()
