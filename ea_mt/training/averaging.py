"""``average``: the mean of the model weights of the last N checkpoints.

The logic of fairseq's ``scripts/average_checkpoints.py`` (not shipped in the wheel):
parameters are summed in float and divided by N; integer buffers are floor-divided.
The result keeps the newest checkpoint's configuration and training state, without the
optimizer state, so translate loads it like any other checkpoint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from ea_mt.checkpoint_safety import allow_fairseq_checkpoint_types
from ea_mt.errors import UserError
from ea_mt.fileio import atomic_file, write_error
from ea_mt.reporting import Reporter, SilentReporter

AVERAGE_NAME = "checkpoint_avg.pt"
_UPDATE_CHECKPOINT = re.compile(r"checkpoint_(\d+)_(\d+)\.pt")
_EPOCH_CHECKPOINT = re.compile(r"checkpoint(\d+)\.pt")


def last_checkpoints(save_dir: Path, count: int) -> list[Path]:
    """The newest ``count`` checkpoints, oldest first.

    Update checkpoints (``checkpoint_E_U.pt``, from --save-interval-updates) when there
    are any, else epoch checkpoints (``checkpointE.pt``); a UserError when fewer exist.
    """
    if count < 1:
        raise UserError(f"--last must be at least 1, not {count}")
    if not save_dir.is_dir():
        raise UserError(f"{save_dir}: no such directory; train a model first ('ea-mt train')")
    by_update = _numbered(save_dir, _UPDATE_CHECKPOINT, group=2)
    found = by_update or _numbered(save_dir, _EPOCH_CHECKPOINT, group=1)
    kind = "update" if by_update else "epoch"
    if len(found) < count:
        raise UserError(
            f"--last {count}: {save_dir} holds only {len(found)} {kind} checkpoint(s); "
            "train longer, or keep more with 'ea-mt train --keep-last N'"
        )
    return found[-count:]


def average_checkpoints(paths: list[Path], output: Path,
                        reporter: Reporter | None = None) -> Path:
    """Write the average of ``paths`` to ``output`` (atomically); returns ``output``."""
    reporter = reporter or SilentReporter()
    total: dict[str, torch.Tensor] = {}
    newest: dict[str, Any] = {}
    for path in reporter.track(paths, "Averaging checkpoints", total=len(paths)):
        state = read_checkpoint_state(path)
        params = state["model"]
        if total and params.keys() != total.keys():
            raise UserError(f"{path} holds other parameters than {paths[0]}: checkpoints of "
                            "different models cannot be averaged")
        for name, tensor in params.items():
            value = tensor.float() if tensor.is_floating_point() else tensor.clone()
            total[name] = value if name not in total else total[name] + value
        newest = state
    averaged = {}
    for name, value in total.items():
        reference = newest["model"][name]
        mean = value / len(paths) if value.is_floating_point() else value // len(paths)
        averaged[name] = mean.to(reference.dtype)
    newest["model"] = averaged
    newest.pop("last_optimizer_state", None)
    newest["ea_mt_average"] = {"checkpoints": [path.name for path in paths]}
    write_checkpoint_state(newest, output)
    return output


def _numbered(folder: Path, pattern: re.Pattern[str], group: int) -> list[Path]:
    """Files whose name matches ``pattern``, sorted by the number in ``group``."""
    numbered = []
    for path in folder.iterdir():
        match = pattern.fullmatch(path.name)
        if match:
            numbered.append((int(match.group(group)), path))
    return [path for _, path in sorted(numbered)]


def read_checkpoint_state(path: Path) -> dict[str, Any]:
    """A checkpoint file's state as saved (weights_only, allow-listed), checked to hold weights."""
    allow_fairseq_checkpoint_types()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load fails in many ways on a damaged file
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UserError(f"cannot load checkpoint {path}: {type(error).__name__}: "
                        f"{detail}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise UserError(f"{path} is not a fairseq checkpoint (no model weights)")
    return state


def write_checkpoint_state(state: dict[str, Any], output: Path) -> None:
    """Save a checkpoint state to ``output`` atomically; a full disk leaves the old file."""
    with atomic_file(output) as out:
        try:
            torch.save(state, out)
        except OSError as error:  # a full disk, say: the old file stays
            raise write_error(output, error) from None
