"""Training memory: each model in a fresh process, its peak over the built model's baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import REPO, process_memory_kib
from benchmarks.speed.settings import Results, Settings
from benchmarks.speed.timing import synchronize
from benchmarks.speed.training import TrainingRun

MB = 2**20


def reset_peak(device: str) -> None:
    """Restart the peak-memory record from now (CPU: clear_refs resets VmHWM to VmRSS).

    VmHWM rather than ru_maxrss: the latter keeps the parent's peak across fork and exec.
    """
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return
    # Where this fails, the peak also covers model building, which stays far below training.
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def current_and_peak(device: str) -> tuple[int, int]:
    """Bytes in use now and at the peak: allocated on CUDA, resident (RSS) on CPU."""
    if torch.device(device).type == "cuda":
        return torch.cuda.memory_allocated(), torch.cuda.max_memory_allocated()
    memory = process_memory_kib()
    return memory["VmRSS"] * 1024, memory["VmHWM"] * 1024


def memory_worker(spec: dict[str, Any]) -> Results:
    """In a fresh process: peak memory of training steps over the built model's baseline."""
    settings = replace(Settings(), device=spec["device"], dtype=spec["dtype"],
                       vocab=spec["vocab"], tokens={spec["preset"]: spec["tokens"]})
    run = TrainingRun.build(spec["preset"], spec["ea"], spec["length"], settings)
    baseline, _ = current_and_peak(settings.device)
    reset_peak(settings.device)
    for _ in range(spec["steps"]):  # the first step creates the gradients and Adam's state
        run.train_step()
    synchronize(settings.device)
    _, peak = current_and_peak(settings.device)
    params = sum(p.numel() for p in run.model.parameters())
    return {"baseline_mb": baseline / MB, "peak_mb": peak / MB,
            "growth_mb": (peak - baseline) / MB, "params": params}


def spawn_memory_worker(preset: str, length: int, ea: bool, settings: Settings) -> Results:
    """:func:`memory_worker`'s figures of one model, run by ``python -m benchmarks.speed``."""
    spec = {"preset": preset, "length": length, "ea": ea, "device": settings.device,
            "dtype": settings.dtype, "vocab": settings.vocab,
            "tokens": settings.tokens[preset], "steps": settings.memory_steps,
            "threads": settings.threads}
    command = [sys.executable, "-m", "benchmarks.speed", "--memory-worker", json.dumps(spec)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory worker {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_memory(preset: str, length: int, settings: Settings) -> Results:
    """Peak training memory of EA and vanilla, each in its own fresh process."""
    ea, vanilla = (spawn_memory_worker(preset, length, e, settings) for e in (True, False))
    # Gradients and Adam's two moments: 3 fp32 copies of the parameters.
    state = {name: 3 * 4 * r["params"] / MB for name, r in (("ea", ea), ("vanilla", vanilla))}
    activations = {"ea": ea["growth_mb"] - state["ea"],
                   "vanilla": vanilla["growth_mb"] - state["vanilla"]}
    return {
        "preset": preset,
        "length": length,
        "ea_growth_mb": ea["growth_mb"],
        "vanilla_growth_mb": vanilla["growth_mb"],
        "ratio": ea["growth_mb"] / vanilla["growth_mb"],
        "ea_peak_mb": ea["peak_mb"],
        "vanilla_peak_mb": vanilla["peak_mb"],
        "ea_params": ea["params"],
        "vanilla_params": vanilla["params"],
        "ea_activations_mb": activations["ea"],
        "vanilla_activations_mb": activations["vanilla"],
        "activations_ratio": activations["ea"] / activations["vanilla"],
    }
