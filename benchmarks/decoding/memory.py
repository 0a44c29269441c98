"""Peak memory: each system alone in a fresh child process, decoding the whole source once.

The child loads the system (a CTranslate2 child never imports torch), prepares the
batches, takes its resident memory as the baseline, restarts the peak record (Linux
``/proc/self/clear_refs``: VmHWM back to VmRSS) and decodes every batch; the peak is VmHWM
then.  VmHWM rather than ``ru_maxrss``, which would keep the parent's peak across fork and
exec.  Figures in MiB (2**20 bytes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, process_memory_kib
from benchmarks.decoding.systems import Runner, System

KIB_PER_MB = 1024


def worker(spec_path: Path) -> dict[str, Any]:
    """In the child: the memory figures of the system that ``spec_path`` describes."""
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    runner = build_runner(spec)
    prepared = [runner.prepare(pieces) for pieces in spec["batches"]]
    before = process_memory_kib()
    reset = reset_peak()
    for batch in prepared:
        runner.run(batch)
    after = process_memory_kib()
    return {
        "baseline_mb": before["VmRSS"] / KIB_PER_MB,
        "load_peak_mb": before["VmHWM"] / KIB_PER_MB,
        "peak_mb": after["VmHWM"] / KIB_PER_MB,
        "growth_mb": (after["VmHWM"] - before["VmRSS"]) / KIB_PER_MB,
        "peak_reset": reset,
    }


def reset_peak() -> bool:
    """Restart VmHWM from the current VmRSS; False where the kernel does not allow it
    (the peak then covers loading too)."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
        return True
    return False


def build_runner(spec: dict[str, Any]) -> Runner:
    """The runner of a worker's spec, its model loaded in this process."""
    system = System(**spec["system"])
    if system.decoder == "ct2":
        from benchmarks.decoding.ct2_runner import CT2Runner

        return CT2Runner(Path(spec["ct2_model"]), system.precision, spec["beam"],
                         spec["threads"], spec["max_source_pieces"],
                         spec["max_decoder_positions"])
    import torch

    from benchmarks.decoding.torch_runner import TorchRunner, load_translator

    torch.set_num_threads(spec["threads"])
    translator = load_translator(Path(spec["model_path"]), system.precision)
    if isinstance(translator, str):
        raise RuntimeError(translator)
    return TorchRunner(translator, system.decoder, spec["beam"])


def measure_memory(spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """:func:`worker`'s figures for ``spec``, from a fresh ``python -m benchmarks.decoding
    --memory-worker SPEC`` (the spec, batches included, goes through a file in ``work``)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=work, delete=False,
                                     encoding="utf-8") as handle:
        json.dump(spec, handle)
    path = Path(handle.name)
    try:
        command = [sys.executable, "-m", "benchmarks.decoding", "--memory-worker", str(path)]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    finally:
        path.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"memory worker for {spec['system']} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
