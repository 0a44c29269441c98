"""The report: everything it shows as JSON (report.json), then its Markdown and figures."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.common import (
    REPO,
    cpu_model,
    fail,
    load_average,
    log,
    utc_time,
    versions,
    write_json,
)
from benchmarks.quality.experiment import EVAL_ARGS
from benchmarks.quality.markdown import markdown
from benchmarks.quality.options import Settings
from benchmarks.quality.plan import Run
from benchmarks.quality.plots import plot_bleu_per_seed, plot_valid_curves
from benchmarks.quality.stats import seed_means, sweep_summary
from benchmarks.quality.training_log import convergence
from ea_mt.workdir import sha256_file

HYPS = "hyps"  # the report folder's copies of every evaluated run's translations


def build_report(settings: Settings, runs: list[Run], records: dict[str, dict[str, Any]],
                 pairs: list[dict[str, Any]], files: dict[str, tuple[Path, Path]],
                 started: float, load_start: list[float]) -> dict[str, Any]:
    """Everything the Markdown report shows, JSON-ready; ``files``: split -> (source,
    reference), whose references the report records (path and SHA-256)."""
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
        "references": {split: reference(ref) for split, (_, ref) in files.items()},
        "runs": [{**records[run.name], "run": asdict(run),
                  "convergence": convergence(settings.models / run.name / "train.log",
                                             records[run.name]["max_update"])}
                 for run in runs],
        "pairs": pairs,
        "means": seed_means(runs, records, pairs),
        "sweep": sweep_summary(settings.profile, runs, records),
    }


def check_out(settings: Settings) -> None:
    """Refuse, before any training, an ``--out`` that holds the report of another data
    set, direction or experiment (a rerun of the same one rewrites its report)."""
    path = settings.out / "report.json"
    if not path.is_file():
        return
    old = json.loads(path.read_text(encoding="utf-8"))
    data = old.get("data", {})
    was = (data.get("name"), data.get("src"), data.get("tgt"), "upgrade" in old)
    if was != (settings.name, settings.src, settings.tgt, settings.upgrade is not None):
        kind = " (upgrade)" if was[3] else ""
        fail(f"{settings.out} holds the report of {was[0]} {was[1]}→{was[2]}{kind}; "
             "give this experiment another --out")


def machine(load_start: list[float]) -> dict[str, Any]:
    """Where and with what it ran."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "load_average_start": load_start,
            "load_average_end": load_average(), "python": platform.python_version(),
            "versions": versions("torch", "ve-fairseq", "sacrebleu", "ea-mt")}


def reference(path: Path) -> dict[str, Any]:
    """A reference file as the report records it: its path (relative to the repository
    where it lies beside it, as ``../shared/data/...``), line count and SHA-256."""
    resolved = path.resolve()
    near = resolved.is_relative_to(REPO.parent)
    shown = os.path.relpath(resolved, REPO) if near else str(resolved)
    with resolved.open(encoding="utf-8", newline="") as lines:
        count = sum(1 for _ in lines)
    return {"path": shown, "absolute": str(resolved), "lines": count,
            "sha256": sha256_file(resolved)}


def keep_hypotheses(report: dict[str, Any], out: Path) -> None:
    """Copy every evaluated run's translations to ``out/hyps/RUN.SPLIT.hyp`` (the work
    directory is not kept with the report) and note each copy as the score's ``kept_hyp``."""
    folder = out / HYPS
    folder.mkdir(parents=True, exist_ok=True)
    start = [report["upgrade"]["start"]] if report.get("upgrade") else []
    for record in [*report["runs"], *start]:
        for split, scores in record["scores"].items():
            source = Path(scores["hyp"])
            if not source.is_file():
                log(f"{record['run']['name']}: {source} is gone; its {split} translations "
                    "are not kept with the report")
                continue
            kept = folder / f"{record['run']['name']}.{split}.hyp"
            shutil.copyfile(source, kept)
            scores["kept_hyp"] = kept.relative_to(out).as_posix()


def write_report(report: dict[str, Any], out: Path) -> None:
    """report.json, report.md, bleu_per_seed.png, valid_curves.png and the hypotheses
    (``hyps/``) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    keep_hypotheses(report, out)
    write_json(out / "report.json", report)
    plotted = plot_bleu_per_seed(report["runs"], out / "bleu_per_seed.png")
    curves_plotted = plot_valid_curves(report["runs"], out / "valid_curves.png")
    (out / "report.md").write_text(markdown(report, plotted, curves_plotted),
                                   encoding="utf-8")
