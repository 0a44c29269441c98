"""Where EA's training time goes: alternated training steps of both models under
torch.profiler."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

import torch

from benchmarks.speed.settings import Results, Settings
from benchmarks.speed.timing import interleave
from benchmarks.speed.training import TrainingRun

PROFILE_STEPS = 3


def profiled_step(run: TrainingRun, settings: Settings) -> tuple[float, Any]:
    """One training step under torch.profiler; seconds and the profiler's op averages."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if settings.device_type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        seconds = run.step()
    return seconds, profiler.key_averages()


def profile_training(preset: str, length: int, settings: Settings) -> Results:
    """Self time and calls per op and training step for EA and vanilla, steps alternated."""
    runs = {ea: TrainingRun.build(preset, ea, length, settings) for ea in (True, False)}
    for run in runs.values():
        run.step()  # warm-up
    self_ms: dict[bool, Counter] = {True: Counter(), False: Counter()}
    calls: dict[bool, Counter] = {True: Counter(), False: Counter()}
    tables: dict[bool, str] = {}
    sort_by = "self_device_time_total" if settings.device_type == "cuda" else "self_cpu_time_total"

    def run_one(ea: bool, index: int) -> float:
        seconds, events = profiled_step(runs[ea], settings)
        for event in events:
            self_ms[ea][event.key] += getattr(event, sort_by) / 1000 / PROFILE_STEPS
            calls[ea][event.key] += event.count / PROFILE_STEPS
        if index == PROFILE_STEPS - 1:
            tables[ea] = events.table(sort_by=sort_by, row_limit=25)
        return seconds

    seconds = interleave(PROFILE_STEPS, run_one)
    return {"preset": preset, "length": length, "steps": PROFILE_STEPS, "time": sort_by,
            "ea_step_s": statistics.median(seconds[True]),
            "vanilla_step_s": statistics.median(seconds[False]),
            "ea_self_ms": dict(self_ms[True]), "vanilla_self_ms": dict(self_ms[False]),
            "ea_calls": dict(calls[True]), "vanilla_calls": dict(calls[False]),
            "ea_table": tables[True], "vanilla_table": tables[False]}
