"""Running the experiment: ``ea-mt prepare`` once, then ``ea-mt train`` and ``ea-mt
evaluate`` per run (``--jobs`` at a time) and ``ea-mt score --baseline`` per pair."""

from __future__ import annotations

import itertools
import json
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.common import fail, log
from benchmarks.quality.experiment import EVAL_ARGS, METRICS
from benchmarks.quality.options import BEST, Settings, Upgrade
from benchmarks.quality.plan import Run, train_args
from benchmarks.quality.records import read_record, trained_as, write_record
from benchmarks.quality.stats import metric_key
from benchmarks.quality.training_log import train_status
from ea_mt.workdir import read_json, sha256_file


def prepare(settings: Settings, cli: list[str]) -> dict[str, tuple[Path, Path]]:
    """``ea-mt prepare`` once per data set; returns split -> (source file, reference file)."""
    data = subset_data(settings) if settings.profile.subset else settings.data
    for prefix in data.values():
        for lang in (settings.src, settings.tgt):
            if not Path(f"{prefix}.{lang}").is_file():
                fail(f"{prefix}.{lang}: no such file")
    settings.workdir.mkdir(parents=True, exist_ok=True)
    log(f"preparing {settings.name} in {settings.workdir}")
    run_cli(cli, [
        "prepare", "--src", settings.src, "--tgt", settings.tgt, "-w", str(settings.workdir),
        "--train", str(data["train"]), "--valid", str(data["valid"]), "--test", str(data["test"]),
        "--vocab-size", str(settings.profile.vocab_size), "-q",
    ], settings.workdir / "prepare.log")
    return {split: (Path(f"{prefix}.{settings.src}"), Path(f"{prefix}.{settings.tgt}"))
            for split, prefix in data.items() if split != "train"}


def subset_data(settings: Settings) -> dict[str, Path]:
    """The first lines of each file, in WORKDIR/data (``--quick``)."""
    assert settings.profile.subset is not None
    folder = settings.workdir / "data"
    folder.mkdir(parents=True, exist_ok=True)
    prefixes = {}
    for (split, prefix), lines in zip(settings.data.items(), settings.profile.subset,
                                      strict=True):
        name = prefix.name
        for lang in (settings.src, settings.tgt):
            with open(f"{prefix}.{lang}", encoding="utf-8", newline="") as source:
                head = list(itertools.islice(source, lines))
            (folder / f"{name}.{lang}").write_text("".join(head), encoding="utf-8")
        prefixes[split] = folder / name
    return prefixes


def execute_all(runs: list[Run], settings: Settings, files: dict[str, tuple[Path, Path]],
                cli: list[str]) -> dict[str, dict[str, Any]]:
    """Every run's record, ``--jobs`` runs at a time; the first failure cancels the rest."""
    settings.models.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
        futures = {run.name: pool.submit(execute, run, settings, files, cli) for run in runs}
        try:
            return {name: future.result() for name, future in futures.items()}
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def execute(run: Run, settings: Settings, files: dict[str, tuple[Path, Path]],
            cli: list[str]) -> dict[str, Any]:
    """Train (unless its record says it is done), evaluate the run's sets, keep a record."""
    model_dir = settings.models / run.name
    record = read_record(model_dir)
    args = train_args(run, settings)
    if not trained_as(record, run, args) or record.get("max_update") != settings.profile.max_update:
        record = train(run, settings, record, cli)
        write_record(model_dir, record)
    for split in run.splits:
        if split not in record["scores"]:
            record["scores"][split] = evaluate(run, model_dir, files[split], settings, cli)
            write_record(model_dir, record)
    return record


def train(run: Run, settings: Settings, record: dict[str, Any],
          cli: list[str]) -> dict[str, Any]:
    """Run ``ea-mt train`` into the run's model directory (a new run, or a longer one)."""
    model_dir = settings.models / run.name
    args = train_args(run, settings)
    max_update = settings.profile.max_update
    if record and (not trained_as(record, run, args) or record["max_update"] > max_update):
        kept = record.get("run", {})
        fail(f"{model_dir} was trained with other options or more updates "
             f"({shlex.join(record['train_args'])}, --max-update {record['max_update']}, "
             f"α {kept.get('alpha')}, β {kept.get('beta')}); choose another --workdir")
    interrupted = not record and (model_dir / "checkpoint_last.pt").is_file()
    options, raw = args[:args.index("--")], args[args.index("--"):]
    command = ["train", *options, "--max-update", str(max_update), "-w", str(settings.workdir),
               "--save-dir", str(model_dir), "--threads", str(settings.threads), "-q", *raw]
    log(f"{run.name}: training {shlex.join([run.arch, *run.ea_args])} to {max_update} "
        f"updates (log: {model_dir / 'train.log'})")
    start = time.monotonic()
    run_cli(cli, command, settings.models / f"{run.name}.log")
    seconds = time.monotonic() - start
    status = train_status(model_dir / "train.log")
    log(f"{run.name}: {status.num_updates} updates in {seconds / 60:.1f} min, "
        f"best valid BLEU {status.best}")
    return {
        "run": asdict(run),
        "train_args": args,
        "max_update": max_update,
        "train_command": shlex.join(["ea-mt", *command]),
        "train_seconds": record.get("train_seconds", 0.0) + seconds,
        "train_seconds_partial": interrupted or record.get("train_seconds_partial", False),
        "updates": status.num_updates,
        "epochs": status.epochs_done,
        "best_valid_bleu": status.best,
        "scores": {},
    }


def evaluate(run: Run, model_dir: Path, files: tuple[Path, Path], settings: Settings,
             cli: list[str], checkpoint: Path | None = None) -> dict[str, Any]:
    """``ea-mt evaluate`` of checkpoint_best.pt (or ``checkpoint``) on one set: scores and
    the hypotheses."""
    src, ref = files
    output = run_cli(cli, [
        "evaluate", "--src", str(src), "--ref", str(ref), "--checkpoint",
        str(checkpoint or model_dir / BEST), "-m", ",".join(METRICS), *EVAL_ARGS,
        "--threads", str(settings.threads), "--json", "-q",
    ], settings.models / f"{run.name}.log")
    report = json.loads(output)
    scores = {metric_key(s["metric"]): s for s in report["scores"]}
    result = {
        "hyp": report["hyp"],
        "translate_s": report["timing"]["translate_s"],
        "max_length_lines": len(report["warnings"]["max_length_lines"]),
        **{metric: scores[metric]["score"] for metric in METRICS},
        "signatures": {metric: scores[metric]["signature"] for metric in METRICS},
    }
    log(f"{run.name}: {src.stem} BLEU {result['bleu']:.2f}, chrF {result['chrf']:.2f}")
    return result


def score_pairs(runs: list[Run], records: dict[str, dict[str, Any]], ref: Path,
                cli: list[str], log_path: Path) -> list[dict[str, Any]]:
    """Each EA-family run scored on test against the vanilla run of its seed."""
    vanilla = {run.seed: run.name for run in runs if run.variant == "vanilla"}
    pairs = []
    for run in runs:
        if run.variant == "vanilla" or "test" not in run.splits or run.seed not in vanilla:
            continue
        baseline = records[vanilla[run.seed]]["scores"]["test"]["hyp"]
        output = run_cli(cli, [
            "score", "--ref", str(ref), "--hyp", records[run.name]["scores"]["test"]["hyp"],
            "--baseline", baseline, "-m", ",".join(METRICS), "--json",
        ], log_path)
        pairs.append({"run": run.name, "variant": run.variant, "seed": run.seed,
                      "baseline": vanilla[run.seed], **json.loads(output)})
    return pairs


def check_start(upgrade: Upgrade, settings: Settings) -> None:
    """The upgrade's checkpoint must come from this work directory's preparation of the
    data (its model directory's train_config.json says which)."""
    config = upgrade.checkpoint.parent / "train_config.json"
    if not config.is_file():
        fail(f"{upgrade.checkpoint}: no train_config.json beside it; an upgrade starts from "
             "a model that ea-mt train wrote in this --workdir's preparation of the data")
    if read_json(config).get("prepare_sha256") != sha256_file(settings.workdir / "prepare.json"):
        fail(f"{upgrade.checkpoint} was trained on another preparation of the data than "
             f"{settings.workdir}'s; give that model's --workdir")


def evaluate_start(start: Run, upgrade: Upgrade, settings: Settings,
                   files: dict[str, tuple[Path, Path]], cli: list[str]) -> dict[str, Any]:
    """The starting checkpoint's record: its scores on the validation and test sets."""
    scores = {split: evaluate(start, upgrade.checkpoint.parent, files[split], settings, cli,
                              upgrade.checkpoint) for split in start.splits}
    return {"run": asdict(start), "checkpoint": str(upgrade.checkpoint), "scores": scores}


def score_upgrade(runs: list[Run], records: dict[str, dict[str, Any]], start: dict[str, Any],
                  ref: Path, cli: list[str], log_path: Path) -> list[dict[str, Any]]:
    """Each upgrade run on test against the start, and the EA runs against vanilla
    continued at the same seed."""
    continued = {run.seed: run.name for run in runs if run.variant == "continued"}
    pairs = []
    for run in runs:
        baselines = [("start", start["scores"]["test"]["hyp"])]
        if run.variant != "continued" and run.seed in continued:
            name = continued[run.seed]
            baselines.append((name, records[name]["scores"]["test"]["hyp"]))
        for baseline, hyp in baselines:
            output = run_cli(cli, [
                "score", "--ref", str(ref), "--hyp", records[run.name]["scores"]["test"]["hyp"],
                "--baseline", hyp, "-m", ",".join(METRICS), "--json",
            ], log_path)
            pairs.append({"run": run.name, "variant": run.variant, "seed": run.seed,
                          "against": baseline, **json.loads(output)})
    return pairs


def run_cli(cli: list[str], args: list[str], log_path: Path) -> str:
    """Run ``ea-mt ARGS``: stdout is returned, stderr appended to ``log_path``."""
    with log_path.open("a", encoding="utf-8") as stderr:
        stderr.write(f"$ ea-mt {shlex.join(args)}\n")
        stderr.flush()
        done = subprocess.run([*cli, *args], stdout=subprocess.PIPE, stderr=stderr, text=True,
                              encoding="utf-8", check=False)
    if done.returncode != 0:
        fail(f"'ea-mt {shlex.join(args)}' failed (exit {done.returncode}); end of "
             f"{log_path}:\n{last_lines(log_path)}")
    return done.stdout


def last_lines(path: Path, count: int = 5) -> str:
    """The end of a log, to quote in an error."""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-count:])
