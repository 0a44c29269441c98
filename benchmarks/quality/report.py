"""The report: everything it shows as JSON (report.json), then its Markdown and figures."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.common import cpu_model, load_average, utc_time, versions, write_json
from benchmarks.quality.experiment import EVAL_ARGS
from benchmarks.quality.markdown import markdown
from benchmarks.quality.options import Settings
from benchmarks.quality.plan import Run
from benchmarks.quality.plots import plot_bleu_per_seed, plot_valid_curves
from benchmarks.quality.stats import seed_means, sweep_summary
from benchmarks.quality.training_log import convergence


def build_report(settings: Settings, runs: list[Run], records: dict[str, dict[str, Any]],
                 pairs: list[dict[str, Any]], started: float,
                 load_start: list[float]) -> dict[str, Any]:
    """Everything the Markdown report shows, JSON-ready."""
    manifest = json.loads((settings.workdir / "prepare.json").read_text(encoding="utf-8"))
    return {
        "command": settings.command,
        "date": utc_time(started),
        "wall_minutes": round((time.time() - started) / 60, 1),
        "machine": machine(load_start),
        "data": {"name": settings.name, "src": settings.src, "tgt": settings.tgt,
                 "files": {split: str(path) for split, path in settings.data.items()},
                 "subset_lines": settings.profile.subset,
                 "pairs": {split: c["kept"] for split, c in manifest["counts"].items()},
                 "vocab_size": settings.profile.vocab_size},
        "profile": {**asdict(settings.profile), "eval_args": EVAL_ARGS,
                    "threads": settings.threads, "jobs": settings.jobs},
        "workdir": str(settings.workdir),
        "runs": [{**records[run.name], "run": asdict(run),
                  "convergence": convergence(settings.models / run.name / "train.log",
                                             records[run.name]["max_update"])}
                 for run in runs],
        "pairs": pairs,
        "means": seed_means(runs, records, pairs),
        "sweep": sweep_summary(settings.profile, runs, records),
    }


def machine(load_start: list[float]) -> dict[str, Any]:
    """Where and with what it ran."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "load_average_start": load_start,
            "load_average_end": load_average(), "python": platform.python_version(),
            "versions": versions("torch", "ve-fairseq", "sacrebleu", "ea-mt")}


def write_report(report: dict[str, Any], out: Path) -> None:
    """report.json, report.md, bleu_per_seed.png and valid_curves.png in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "report.json", report)
    plotted = plot_bleu_per_seed(report["runs"], out / "bleu_per_seed.png")
    curves_plotted = plot_valid_curves(report["runs"], out / "valid_curves.png")
    (out / "report.md").write_text(markdown(report, plotted, curves_plotted),
                                   encoding="utf-8")
