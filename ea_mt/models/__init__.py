"""The EA-Transformer fairseq model: attention modules, layers, encoder/decoder, architectures."""

from ea_mt.models.attention import AttentionChain, EvolvingMultiheadAttention
from ea_mt.models.config import EAConfig
from ea_mt.models.ea_transformer import PRESETS, EATransformerModel

__all__ = [
    "AttentionChain",
    "EAConfig",
    "EATransformerModel",
    "EvolvingMultiheadAttention",
    "PRESETS",
]
