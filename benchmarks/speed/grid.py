"""The measurement grid: every part asked for, over presets × lengths, with the run's
conditions."""

from __future__ import annotations

import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch

from benchmarks.common import load_average, log, machine_description, utc_now, versions
from benchmarks.speed.decoding import measure_all_decoding
from benchmarks.speed.memory import measure_memory
from benchmarks.speed.report import write_outputs
from benchmarks.speed.settings import Results, Settings
from benchmarks.speed.stats import evaluate_targets
from benchmarks.speed.steps import measure_step_times
from benchmarks.speed.training import measure_training


def machine() -> str:
    """CPU model and core count, and the GPU's name where there is one."""
    description = machine_description()
    if torch.cuda.is_available():
        description += f"; GPU {torch.cuda.get_device_name()}"
    return description


def run_metadata(settings: Settings, command: str) -> Results:
    """How, where and with what the run was made."""
    packages = versions("torch", "ve-fairseq", "ea-mt")
    return {
        "command": command,
        "date": utc_now(),
        "machine": machine(),
        "device": settings.device,
        "dtype": settings.dtype,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": packages["torch"],
        "fairseq": packages["ve-fairseq"],
        "ea_mt": packages["ea-mt"],
        "load_start": load_average(),
    }


def run_grid(settings: Settings, parts: tuple[str, ...], out: Path, command: str) -> Results:
    """Every measurement asked for; results.json is rewritten after each grid cell."""
    start = time.perf_counter()
    results: Results = {"meta": run_metadata(settings, command), "settings": asdict(settings)}
    cells = [(p, n) for p in settings.presets for n in settings.lengths]
    for part, measure in (("training", measure_training), ("memory", measure_memory)):
        if part in parts:
            results[part] = []
            for preset, length in cells:
                log(f"{part} {preset}/{length}")
                results[part].append(measure(preset, length, settings))
                write_outputs(results, out, final=False)
    if "decoding" in parts:
        results["decoding"] = measure_all_decoding(settings)
    if "steps" in parts:
        log(f"per-step decoding time, {settings.step_positions} positions")
        results["step_time"] = measure_step_times(settings)
    results["targets"] = evaluate_targets(results)
    results["meta"]["wall_s"] = time.perf_counter() - start
    results["meta"]["load_end"] = load_average()
    write_outputs(results, out, final=True)
    return results
