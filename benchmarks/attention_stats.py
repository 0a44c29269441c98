"""Attention statistics of an EA model and a vanilla Transformer, layer by layer (issue #5).

Runs the first ``--lines`` sentence pairs of ``--src``/``--ref`` teacher-forced on the
reference through both models and averages over sentences, per chain (encoder self,
decoder self, cross) and layer, the figures of ``ea_mt.inspection.statistics.layer_statistics``
(each a mean over heads): the softmax rows' entropy, the Jensen–Shannon divergence from
the previous layer's softmax map and, for EA, the convolution branch's share of A.

    python -m benchmarks.attention_stats --ea MODEL --vanilla MODEL --src FILE --ref FILE \\
        [--lines 200] [--out DIR]

MODEL is a model directory (its checkpoint_best.pt, else checkpoint_last.pt) or a
checkpoint file. Writes results.json and results.md to --out (default
benchmarks/results/attention-stats).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, command_line, markdown_table, utc_now, write_json
from ea_mt.decoding.translation import Translator
from ea_mt.errors import UserError
from ea_mt.inspection.capture import CHAINS
from ea_mt.inspection.sentence import check_shared_vocabulary, inspect_sentence
from ea_mt.inspection.statistics import layer_statistics

STATS = {"entropy": "entropy", "jsd": "jsd_from_previous", "conv_share": "conv_share"}
MODELS = ("ea", "vanilla")
Sums = dict[tuple[str, int, str], list[float]]  # (chain, layer, stat) -> per-sentence means


def pairs(src: Path, ref: Path, lines: int) -> Iterator[tuple[str, str]]:
    """The first ``lines`` sentence pairs with text on both sides."""
    with src.open(encoding="utf-8") as s, ref.open(encoding="utf-8") as r:
        for source, target in islice(zip(s, r, strict=True), lines):
            if source.strip() and target.strip():
                yield source.strip(), target.strip()


def sentence_stats(models: dict[str, Translator], source: str, target: str) -> dict[str, Sums]:
    """Per model, chain, layer and statistic the head-mean of one pair (maps of
    :func:`ea_mt.inspection.sentence.inspect_sentence`); a UserError if the pair is too long."""
    inspection = inspect_sentence(list(models.values()), source, target)
    per_model: dict[str, Sums] = {}
    for name, maps in zip(models, inspection.models, strict=True):
        sums: Sums = {}
        for chain in CHAINS:
            for row in layer_statistics(chain, maps.chains[chain]):
                for stat, key in STATS.items():
                    if row[key] is not None:
                        sums[(chain, row["layer"], stat)] = [row[key]["mean"]]
        per_model[name] = sums
    return per_model


def measure(models: dict[str, Translator], src: Path, ref: Path, lines: int) -> dict[str, Any]:
    """Means and standard deviations over the sentence pairs both models take."""
    ea, vanilla = models.values()
    check_shared_vocabulary(ea, vanilla)  # an error, not a reason to skip every sentence
    totals: dict[str, Sums] = {name: defaultdict(list) for name in models}
    used = skipped = 0
    for source, target in pairs(src, ref, lines):
        try:
            per_model = sentence_stats(models, source, target)
        except UserError:  # longer than a model's positions
            skipped += 1
            continue
        used += 1
        for name, stats in per_model.items():
            for key, values in stats.items():
                totals[name][key] += values
    chains: dict[str, list[dict[str, Any]]] = {}
    for chain in CHAINS:
        layers = sorted({layer for sums in totals.values() for c, layer, _ in sums if c == chain})
        chains[chain] = [
            {"layer": layer, **{
                f"{name}_{stat}": _summary(totals[name].get((chain, layer, stat)))
                for name in models for stat in STATS
            }}
            for layer in layers
        ]
    return {"sentences": used, "skipped_too_long": skipped, "chains": chains}


def _summary(values: list[float] | None) -> dict[str, float] | None:
    """Mean and standard deviation over sentences; None where no sentence has the figure."""
    if not values:
        return None
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": spread}


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown table, with the command, date and models."""
    def cell(value: dict[str, float] | None) -> str:
        """A mean with three decimals; — when absent."""
        return "—" if value is None else f"{value['mean']:.3f}"

    lines = [
        "# Attention statistics: EA vs vanilla, per chain and layer",
        "",
        f"- command: `{results['command']}`",
        f"- date: {results['date']}",
        *(f"- {name}: `{m['checkpoint']}` ({m['arch']})" for name, m in results["models"].items()),
        f"- data: first {results['lines']} pairs of `{results['src']}` / `{results['ref']}`, "
        f"teacher-forced on the reference; {results['sentences']} sentences "
        f"({results['skipped_too_long']} skipped as too long)",
        "",
        "Means over sentences of the mean over heads. Entropy of the softmax rows and JSD "
        "from the previous layer's softmax map in nats; conv share = "
        "‖β·ReLU(Conv(M))‖_F / ‖A‖_F (EA layers after the first).",
        "",
    ]
    stats = ("ea_entropy", "vanilla_entropy", "ea_jsd", "vanilla_jsd", "ea_conv_share")
    rows = [[chain, row["layer"], *(cell(row[s]) for s in stats)]
            for chain, chain_rows in results["chains"].items() for row in chain_rows]
    lines.append(markdown_table(["chain", "layer", "entropy EA", "entropy vanilla",
                                 "JSD prev EA", "JSD prev vanilla", "conv share EA"],
                                rows, right_from=1))
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ea", type=Path, required=True, help="EA model directory or checkpoint")
    p.add_argument("--vanilla", type=Path, required=True, help="vanilla model dir or checkpoint")
    p.add_argument("--src", type=Path, required=True, help="source sentences, one per line")
    p.add_argument("--ref", type=Path, required=True, help="reference translations")
    p.add_argument("--lines", type=int, default=200, help="sentence pairs to use (first N)")
    p.add_argument("--out", type=Path, default=RESULTS / "attention-stats",
                   help="results folder (default benchmarks/results/attention-stats)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Load both models, measure, write results.json and results.md."""
    args = parser().parse_args(argv)
    logging.getLogger().setLevel(logging.WARNING)
    torch.set_num_threads(1)
    models = {
        name: Translator.load(checkpoint=path, device="cpu")
        for name, path in zip(MODELS, (args.ea, args.vanilla), strict=True)
    }
    results = {
        "command": command_line("benchmarks.attention_stats", argv),
        "date": utc_now(),
        "models": {
            name: {"path": str(path), "checkpoint": str(models[name].files.checkpoint),
                   "arch": models[name].files.arch}
            for name, path in zip(MODELS, (args.ea, args.vanilla), strict=True)
        },
        "src": str(args.src),
        "ref": str(args.ref),
        "lines": args.lines,
        "units": {"entropy": "nats", "jsd": "nats", "conv_share": "‖β·ReLU(Conv(M))‖_F / ‖A‖_F"},
        **measure(models, args.src, args.ref, args.lines),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "results.json", results, indent=1)
    report = markdown(results)
    (args.out / "results.md").write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as error:
        sys.exit(f"attention_stats: error: {error}")
