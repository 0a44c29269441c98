"""Where torch computes: the device, the floating-point precision and the CPU threads.

The one home of ``--device``, ``--precision`` and ``--threads`` for every command, training
and translation alike.  Light on purpose: the choices and defaults import nothing heavy
(the command line reads them for ``--help``); torch is imported only by the functions
that ask it something.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ea_mt.errors import UserError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")
DEFAULT_DEVICE = "auto"  # CUDA if PyTorch sees a GPU, else the CPU
# int8: Linear layers with int8 weights, the rest fp32 (ea_mt.decoding.quantization), on the
# CPU only; fp16 needs CUDA (it runs on the CPU, but about 4x slower than fp32); bf16 runs on both.
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
DEFAULT_PRECISION = "fp32"
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # what a child process's torch reads


def check_device(device: str) -> None:
    """A UserError unless ``device`` is one of :data:`DEVICES`."""
    if device not in DEVICES:
        raise UserError(f"--device must be one of {', '.join(DEVICES)}, not {device!r}")


def resolve_device(device: str) -> str:
    """``cpu`` or ``cuda``: ``auto`` becomes CUDA if PyTorch sees a GPU; a UserError if
    ``device`` is not a choice, or is ``cuda`` where there is none."""
    import torch

    check_device(device)
    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise UserError("--device cuda: no CUDA device is available here; use --device cpu")
    return "cuda" if device == "cuda" or (device == "auto" and cuda) else "cpu"


def torch_device(device: str, precision: str) -> torch.device:
    """The torch device to compute on in ``precision`` (``auto`` with int8: the CPU); a
    UserError for a combination that cannot run (fp16 needs CUDA, int8 the CPU)."""
    import torch

    check_device(device)
    if precision not in PRECISIONS:
        raise UserError(f"--precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "int8":
        if device == "cuda":
            raise UserError("--precision int8 runs on the CPU only; use --device cpu, or "
                            "fp16/bf16 on CUDA")
        return torch.device("cpu")
    chosen = torch.device(resolve_device(device))
    if precision == "fp16" and chosen.type != "cuda":
        raise UserError("--precision fp16 needs a CUDA device; on the CPU use fp32, bf16 or int8")
    return chosen


def torch_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a precision of :data:`PRECISIONS` (int8: fp32, the dtype of all
    but its quantized Linear layers)."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
            "int8": torch.float32}[precision]


def check_threads(threads: int | None) -> None:
    """A UserError unless ``threads`` is None (torch's own choice) or at least 1."""
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1, not {threads}")


def set_threads(threads: int | None) -> None:
    """Have torch in this process use ``threads`` CPU threads (None: leave torch's choice)."""
    check_threads(threads)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """:func:`set_threads` for the ``with`` block, then torch's previous thread count."""
    import torch

    previous = torch.get_num_threads()
    set_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def thread_env(threads: int | None) -> dict[str, str]:
    """Environment variables that give a child process's torch ``threads`` CPU threads."""
    return {} if threads is None else dict.fromkeys(THREAD_ENV, str(threads))
