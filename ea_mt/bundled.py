"""The trained models that ship with ea-mt, found by their short names.

They are model directories under the source tree's ``data/models/``, installed as the
package ``ea_mt.bundled_models``; a folder there is a bundled model when it holds a
``model.json``, and its name is the short name (``--checkpoint NAME``, ``Translator.load(NAME)``,
``ea-mt serve --model NAME``).  A path that exists always wins over a short name.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ea_mt.workdir import MODEL_JSON

BUNDLED_PACKAGE = "ea_mt.bundled_models"


def bundled_root() -> Path | None:
    """The folder of the bundled models, or None in an install that has none."""
    try:
        root = resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError:
        return None
    path = Path(str(root))
    return path if path.is_dir() else None


def bundled_models() -> dict[str, Path]:
    """Every bundled model: its short name and model directory, sorted by name."""
    root = bundled_root()
    if root is None:
        return {}
    return {folder.name: folder for folder in sorted(root.iterdir())
            if (folder / MODEL_JSON).is_file()}


def bundled_model(name: str | Path) -> Path | None:
    """The model directory of the bundled model ``name``, unless ``name`` is an existing
    path (which always wins) or not a bundled model's name."""
    text = str(name)
    if Path(text).exists() or "/" in text:
        return None
    return bundled_models().get(text)


def bundled_hint() -> str:
    """A clause naming the bundled models for an error message, or '' when there are none."""
    names = list(bundled_models())
    if not names:
        return ""
    return f"; or a bundled model: {', '.join(names)} ('ea-mt models' describes them)"
