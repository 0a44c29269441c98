"""``export``: a trained model as a small model directory to ship or to serve.

The directory holds what translation needs and nothing else: the weights (fp16 by default;
translation computes in the precision it is asked for), the configuration fairseq builds the
model from, ``model.json``, the SentencePiece model and the two dictionaries.  Optimizer
state, training metrics and the data iterator's position are left out, so the file is about
a third of a training checkpoint in fp32, a sixth in fp16.  ``ea-mt translate --checkpoint
DIR`` and ``Translator.load(DIR)`` read it like any model directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ea_mt.errors import UserError
from ea_mt.fileio import copy_atomic, write_json_atomic
from ea_mt.modeldir import DEFAULT_CHECKPOINTS, ModelFiles, model_manifest
from ea_mt.workdir import MODEL_JSON

if TYPE_CHECKING:  # torch is imported by the functions: the command line reads the choices
    import torch

EXPORTED_CHECKPOINT = DEFAULT_CHECKPOINTS[0]  # the name a model directory is read by
WEIGHTS = {"fp16": "float16", "fp32": "float32"}  # --weights: the torch dtype's name
DEFAULT_WEIGHTS = "fp16"
KEPT_EXTRA_STATE = ("epoch", "best", "val_loss")  # for the record; the rest is for resuming


def export_model(files: ModelFiles, out: Path, weights: str = DEFAULT_WEIGHTS,
                 description: str | None = None) -> Path:
    """Write the model of ``files`` to the new directory ``out``; returns its checkpoint."""
    import torch

    from ea_mt.training.averaging import read_checkpoint_state, write_checkpoint_state

    if weights not in WEIGHTS:
        raise UserError(f"--weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--output {out} exists and is not an empty directory; "
                        "choose a new one")
    state = read_checkpoint_state(files.checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / EXPORTED_CHECKPOINT
    try:
        write_checkpoint_state(slim_state(state, getattr(torch, WEIGHTS[weights])), checkpoint)
        for path in (files.spm_model, files.src_dict, files.tgt_dict):
            copy_atomic(path, out / path.name)
        write_json_atomic(out / MODEL_JSON, _manifest(files, state, weights, description))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return checkpoint


def slim_state(state: dict[str, Any], dtype: torch.dtype) -> dict[str, Any]:
    """What fairseq needs to rebuild and load the model: floating weights in ``dtype``."""
    history = state.get("optimizer_history") or [{}]
    return {
        "args": state.get("args"),
        "cfg": state.get("cfg"),
        "model": _converted(state["model"], dtype),
        "optimizer_history": [{key: value for key, value in history[-1].items()
                               if key != "optimizer"}],
        "extra_state": {key: value for key, value in (state.get("extra_state") or {}).items()
                        if key in KEPT_EXTRA_STATE},
        "last_optimizer_state": None,
    }


def _converted(weights: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Floating ``weights`` in ``dtype``; tensors that shared memory (tied embeddings) still
    do, so that a tied matrix is stored once."""
    done: dict[tuple[int, int, tuple[int, ...], tuple[int, ...]], torch.Tensor] = {}
    out = {}
    for name, tensor in weights.items():
        if not tensor.is_floating_point():
            out[name] = tensor
            continue
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(),
               tuple(tensor.shape), tensor.stride())
        if key not in done:
            done[key] = tensor.to(dtype)
        out[name] = done[key]
    return out


def _manifest(files: ModelFiles, state: dict[str, Any], weights: str,
              description: str | None) -> dict[str, Any]:
    history = state.get("optimizer_history") or [{}]
    extra: dict[str, Any] = {"weights": weights, "updates": history[-1].get("num_updates")}
    if description:
        extra["description"] = description
    return model_manifest(files.src, files.tgt, files.arch, files.spm_model.name, **extra)
