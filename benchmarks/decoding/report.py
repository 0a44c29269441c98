"""The run's files: results.json (after every step), then results.md and ratios.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import write_json
from benchmarks.decoding.markdown import results_markdown
from benchmarks.decoding.plots import plot_ratios
from benchmarks.decoding.scores import evaluate_targets


def save_json(results: dict[str, Any], out: Path) -> None:
    """results.json as it stands, so that an interrupted run keeps what it measured."""
    write_json(out / "results.json", results)


def write_report(results: dict[str, Any], out: Path) -> str:
    """The targets into ``results``; results.json, results.md and ratios.png into ``out``;
    the Markdown."""
    results["targets"] = evaluate_targets(results["runs"])
    save_json(results, out)
    plot_ratios(results, out / "ratios.png")
    markdown = results_markdown(results)
    (out / "results.md").write_text(markdown, encoding="utf-8")
    return markdown
