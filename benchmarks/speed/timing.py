"""Timing on the device, and the alternated order in which EA and vanilla are timed."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def synchronize(device: str) -> None:
    """Wait for the device's queued work (CUDA); nothing on CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(work: Callable[[], object], device: str) -> float:
    """Seconds that ``work`` takes, device work included."""
    synchronize(device)
    start = time.perf_counter()
    work()
    synchronize(device)
    return time.perf_counter() - start


def interleave(count: int, run: Callable[[bool, int], float]) -> dict[bool, list[float]]:
    """Call ``run(ea, index)`` for index < count, EA and vanilla in A B B A … order."""
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for index in range(count):
        for ea in (True, False) if index % 2 == 0 else (False, True):
            seconds[ea].append(run(ea, index))
    return seconds
