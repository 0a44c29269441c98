"""Load fairseq checkpoints with torch's ``weights_only`` unpickler, which runs no code.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses every global
that is not allow-listed, so fairseq checkpoints fail with "Unsupported global:
argparse.Namespace".  Rather than turning the check off, this module allow-lists exactly
the plain-data types that fairseq checkpoints hold, found by saving real ones:

* ``argparse.Namespace``: ``cfg["model"]`` of every model registered the argparse way
  (``transformer``, ``ea_transformer``, ...);
* numpy arrays of plain numbers: the ``_bleu_counts``/``_bleu_totals`` meters that
  ``--eval-bleu`` keeps in ``extra_state["metrics"]``: int64, or float64 after the
  all-reduce of a multi-GPU run.  ``numpy.core.multiarray._reconstruct`` is the name
  numpy 1.x wrote, ``numpy._core.multiarray._reconstruct`` the one numpy 2 writes.

Importing this module allow-lists them (``import ea_mt`` imports it as soon as torch is
imported); :func:`load_checkpoint` makes sure of it again.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch.serialization

from ea_mt.errors import UserError

try:
    from numpy._core.multiarray import _reconstruct  # numpy >= 2
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

_TORCH_LOAD_MODULES = {"torch.serialization", "torch._weights_only_unpickler"}

SAFE_GLOBALS: list[Any] = [
    argparse.Namespace,
    np.ndarray,
    np.dtype,
    np.dtypes.Int64DType,
    np.dtypes.Float64DType,
    _reconstruct,
    (_reconstruct, "numpy.core.multiarray._reconstruct"),
]


def allow_fairseq_checkpoint_types() -> None:
    """Allow-list the types of :data:`SAFE_GLOBALS` for ``torch.load(weights_only=True)``.

    Idempotent: torch keeps the allow-list as a set, so calling this again (fairseq's
    ``--user-dir`` imports ea_mt a second time) changes nothing.
    """
    torch.serialization.add_safe_globals(SAFE_GLOBALS)


allow_fairseq_checkpoint_types()


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a fairseq checkpoint to CPU, as ``fairseq.checkpoint_utils.load_checkpoint_to_cpu``.

    A missing, truncated, corrupt or unsafe file raises a one-line :class:`UserError` that
    names the file; errors from fairseq's own processing of the loaded state pass through.
    """
    from fairseq import checkpoint_utils

    allow_fairseq_checkpoint_types()
    try:
        return checkpoint_utils.load_checkpoint_to_cpu(str(path))
    except FileNotFoundError as err:
        raise UserError(f"cannot load checkpoint {path}: no such file") from err
    except Exception as err:
        if not _raised_by_torch_load(err):
            raise
        raise UserError(f"cannot load checkpoint {path}: {_reason(err)}") from err


def _raised_by_torch_load(err: BaseException) -> bool:
    """Whether ``err`` came out of torch's reading and unpickling of the file."""
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") in _TORCH_LOAD_MODULES:
            return True
        tb = tb.tb_next
    return False


def _reason(err: BaseException) -> str:
    """One line on why torch could not load a checkpoint."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if isinstance(err, pickle.UnpicklingError):
        refused = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
        if refused:
            return (
                "refused, it holds an object that is neither weights nor training state "
                f"and could run code when loaded ({refused[0].rstrip('.')})"
            )
    detail = type(err).__name__
    if lines:
        detail += ": " + lines[0].split(". ")[0].rstrip(".")
    return f"not a readable checkpoint, truncated or corrupt? ({detail})"
