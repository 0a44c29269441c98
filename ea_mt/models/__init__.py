"""The EA-Transformer fairseq model: attention modules, layers, encoder/decoder, architectures.

The names below load on first use, so that :mod:`ea_mt.models.config` (the EA settings)
imports without torch or fairseq; importing :mod:`ea_mt.models.ea_transformer` registers
the model with fairseq (``import ea_mt`` has that done when fairseq is imported).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ea_mt.models.attention import AttentionChain, EvolvingMultiheadAttention
    from ea_mt.models.config import EAConfig
    from ea_mt.models.ea_transformer import PRESETS, EATransformerModel

_HOMES = {
    "AttentionChain": "ea_mt.models.attention",
    "EAConfig": "ea_mt.models.config",
    "EATransformerModel": "ea_mt.models.ea_transformer",
    "EvolvingMultiheadAttention": "ea_mt.models.attention",
    "PRESETS": "ea_mt.models.ea_transformer",
}
__all__ = [
    "AttentionChain",
    "EAConfig",
    "EATransformerModel",
    "EvolvingMultiheadAttention",
    "PRESETS",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
