"""ea-mt: Evolving-Attention Transformers (Wang et al., ICML 2021) as a fairseq plugin.

Importing this package registers the ``ea_transformer`` model and its architectures
with fairseq, and allow-lists the types fairseq checkpoints hold for torch's
``weights_only`` loader: at once where fairseq and torch are already imported (fairseq's
``--user-dir``), else as soon as they are (:mod:`ea_mt.registration`), so that commands
which load no model start without them.  fairseq's ``--user-dir`` may import the package
a second time under another module name; registration is idempotent.

The Python API, loaded on first use::

    from ea_mt import Translator
    translator = Translator.load("ea-mt-work")
    translator.translate(["A dog runs."])
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ea_mt import registration as _registration

if TYPE_CHECKING:
    from ea_mt.decoding.hypotheses import Hypothesis, LineResult
    from ea_mt.decoding.options import DecodeOptions
    from ea_mt.decoding.translation import Translator

__version__ = "0.1.0"
__all__ = ["DecodeOptions", "Hypothesis", "LineResult", "Translator"]
_API = {
    "Translator": "ea_mt.decoding.translation",
    "DecodeOptions": "ea_mt.decoding.options",
    "Hypothesis": "ea_mt.decoding.hypotheses",
    "LineResult": "ea_mt.decoding.hypotheses",
}

_registration.install()


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_API[name]), name)
