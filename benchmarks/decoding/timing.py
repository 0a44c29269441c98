"""The timed runs: the systems take turns batch by batch, round after round."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.decoding.systems import Runner


@dataclass
class Timing:
    """One system's batch times, per-sentence latencies, and first-round outputs."""

    seconds: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)  # batch seconds / sentences
    outputs: list[list[str]] = field(default_factory=list)  # in batch order


def measure(runners: dict[str, Runner], prepared: dict[str, list[Any]], sizes: list[int],
            rounds: int) -> dict[str, Timing]:
    """Time every runner on every batch (``prepared[key][b]`` holds ``sizes[b]``
    sentences), after one warm-up batch each.  Within a batch the systems take turns, the
    first one moving on by one from batch to batch, so that no system always follows the
    same other one; outputs are those of the first round."""
    keys = list(runners)
    for key in keys:
        runners[key].run(prepared[key][0])
    timings = {key: Timing() for key in keys}
    for round_ in range(rounds):
        for b, size in enumerate(sizes):
            shift = b % len(keys)
            for key in keys[shift:] + keys[:shift]:
                start = time.perf_counter()
                output = runners[key].run(prepared[key][b])
                seconds = time.perf_counter() - start
                timing = timings[key]
                timing.seconds.append(seconds)
                timing.latency.append(seconds / size)
                if round_ == 0:
                    timing.outputs += runners[key].pieces(output)
    return timings


def summarise(timing: Timing, rounds: int) -> dict[str, float]:
    """Target tokens/s (pieces of the best hypotheses, EOS excluded), sentences/s and the
    p50 latency per sentence, over the mean time of a round."""
    seconds = sum(timing.seconds) / rounds
    tokens = sum(len(pieces) for pieces in timing.outputs)
    return {
        "seconds_per_round": seconds,
        "tokens": tokens,
        "tokens_per_s": tokens / seconds,
        "sentences_per_s": len(timing.outputs) / seconds,
        "p50_latency_ms": 1000 * statistics.median(timing.latency),
    }
