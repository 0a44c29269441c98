"""The work directory layout shared by every command, and reading its JSON files.

Files are written through :mod:`ea_mt.fileio`.

::

    WORKDIR/prepare.json      manifest, written last by ``prepare``
    WORKDIR/spm.model, spm.vocab
    WORKDIR/data-bin/         fairseq-preprocess output (joined dictionary)
    WORKDIR/checkpoints/      fairseq --save-dir and a self-contained model directory
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ea_mt.errors import UserError

DEFAULT_WORKDIR = Path("ea-mt-work")
PREPARE_FORMAT = "ea-mt-prepare"
MODEL_FORMAT = "ea-mt-model"
MODEL_JSON = "model.json"  # what makes a folder a model directory


@dataclass(frozen=True)
class WorkDir:
    """Paths inside one work directory."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "prepare.json"

    @property
    def spm_model(self) -> Path:
        return self.root / "spm.model"

    @property
    def spm_vocab(self) -> Path:
        return self.root / "spm.vocab"

    @property
    def data_bin(self) -> Path:
        return self.root / "data-bin"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def load_manifest(self) -> dict[str, Any]:
        """The prepare manifest; a UserError when ``prepare`` has not finished here."""
        if not self.manifest.is_file():
            raise UserError(
                f"{self.root} holds no prepared data (no prepare.json); "
                f"run 'ea-mt prepare --workdir {self.root} ...' first"
            )
        manifest = read_json(self.manifest)
        if manifest.get("format") != PREPARE_FORMAT:
            raise UserError(f"{self.manifest} is not an ea-mt prepare manifest")
        return manifest


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object; a UserError names the file when it is unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} does not hold a JSON object")
    return data


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
