"""Finding the checkpoint and model files to translate with.

A model directory holds ``model.json``, the SentencePiece model and the two fairseq
dictionaries next to its checkpoints; ``WORKDIR/checkpoints`` is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ea_mt.bundled import bundled_hint, bundled_model
from ea_mt.errors import UserError
from ea_mt.workdir import MODEL_FORMAT, MODEL_JSON, WorkDir, read_json

MODEL_VERSION = 1
DEFAULT_CHECKPOINTS = ("checkpoint_best.pt", "checkpoint_last.pt")
_REQUIRED_KEYS = ("src", "tgt", "arch", "spm_model", "src_dict", "tgt_dict")


@dataclass(frozen=True)
class ModelFiles:
    """A checkpoint and the files of the model directory that holds it."""

    checkpoint: Path
    model_dir: Path
    src: str
    tgt: str
    arch: str
    spm_model: Path
    src_dict: Path
    tgt_dict: Path


def resolve_model(
    workdir: Path,
    checkpoint: Path | None = None,
    src: str | None = None,
    tgt: str | None = None,
) -> ModelFiles:
    """The model files for ``--workdir``/``--checkpoint``, checked.

    ``checkpoint`` may be a ``.pt`` file, a model directory or the short name of a bundled
    model (:mod:`ea_mt.bundled`); without it the best (else the last) checkpoint in
    ``WORKDIR/checkpoints`` is used.  ``src``/``tgt``, when given, must match the model's
    language pair.
    """
    if checkpoint is not None:
        checkpoint = bundled_model(checkpoint) or checkpoint
    if checkpoint is None:
        ckpt = _default_checkpoint(WorkDir(workdir).checkpoints, f"--workdir {workdir}")
    elif checkpoint.is_dir():
        ckpt = _default_checkpoint(checkpoint, f"--checkpoint {checkpoint}")
    elif checkpoint.is_file():
        ckpt = checkpoint
    else:
        raise UserError(f"--checkpoint {checkpoint}: no such file or model name{bundled_hint()}")
    files = read_model_dir(ckpt)
    for flag, given, actual in (("--src", src, files.src), ("--tgt", tgt, files.tgt)):
        if given is not None and given != actual:
            raise UserError(
                f"{flag} {given} does not match the model, which translates "
                f"{files.src}->{files.tgt} ({files.model_dir / MODEL_JSON})"
            )
    return files


def model_manifest(src: str, tgt: str, arch: str, spm_model: str = "spm.model",
                   **extra: Any) -> dict[str, Any]:
    """The ``model.json`` of a model directory (the dictionaries are named as fairseq reads
    them); ``extra`` adds fields of the record, such as a description."""
    return {"format": MODEL_FORMAT, "version": MODEL_VERSION, "src": src, "tgt": tgt,
            "arch": arch, "spm_model": spm_model, "src_dict": f"dict.{src}.txt",
            "tgt_dict": f"dict.{tgt}.txt", **extra}


def read_model_dir(checkpoint: Path) -> ModelFiles:
    """Read and check ``model.json`` in the folder holding ``checkpoint``."""
    model_dir = checkpoint.parent
    manifest_path = model_dir / MODEL_JSON
    if not manifest_path.is_file():
        raise UserError(
            f"{model_dir} is not an ea-mt model directory (no {MODEL_JSON}); "
            "a checkpoint must sit next to the model.json, spm.model and dictionaries "
            "that 'ea-mt train' writes"
        )
    manifest = read_json(manifest_path)
    if manifest.get("format") != MODEL_FORMAT:
        raise UserError(f"{manifest_path} is not an ea-mt model description")
    if manifest.get("version") != MODEL_VERSION:
        raise UserError(
            f"{manifest_path} has version {manifest.get('version')!r}; "
            f"this ea-mt reads version {MODEL_VERSION}"
        )
    missing = [key for key in _REQUIRED_KEYS if not isinstance(manifest.get(key), str)]
    if missing:
        raise UserError(f"{manifest_path} lacks {', '.join(missing)}")
    for key, lang in (("src_dict", manifest["src"]), ("tgt_dict", manifest["tgt"])):
        if manifest[key] != f"dict.{lang}.txt":  # the name fairseq's translation task reads
            raise UserError(f"{manifest_path}: {key} must be dict.{lang}.txt")
    files = ModelFiles(
        checkpoint=checkpoint,
        model_dir=model_dir,
        src=manifest["src"],
        tgt=manifest["tgt"],
        arch=manifest["arch"],
        spm_model=model_dir / manifest["spm_model"],
        src_dict=model_dir / manifest["src_dict"],
        tgt_dict=model_dir / manifest["tgt_dict"],
    )
    for path in (files.spm_model, files.src_dict, files.tgt_dict):
        if not path.is_file():
            raise UserError(f"model directory {model_dir} is incomplete: {path.name} is missing")
    return files


def _default_checkpoint(folder: Path, origin: str) -> Path:
    """checkpoint_best.pt, else checkpoint_last.pt; a UserError for either name standing
    for something that is not a file (a folder, a dangling link): no silent fallback."""
    for name in DEFAULT_CHECKPOINTS:
        path = folder / name
        if path.is_file():
            return path
        if path.is_symlink() or path.exists():
            what = "a dangling symbolic link" if not path.exists() else "not a regular file"
            raise UserError(f"{path} is {what}; fix or remove it, or pass --checkpoint FILE")
    raise UserError(
        f"{origin}: no checkpoint_best.pt or checkpoint_last.pt in {folder}; "
        f"train a model first ('ea-mt train') or pass --checkpoint FILE{bundled_hint()}"
    )
