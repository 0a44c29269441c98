"""fairseq transformer layers whose attention modules belong to evolving-attention chains."""

from __future__ import annotations

from fairseq.modules.transformer_layer import (
    TransformerDecoderLayerBase,
    TransformerEncoderLayerBase,
)

from ea_mt.models.attention import AttentionChain, EvolvingMultiheadAttention
from ea_mt.models.config import EAConfig


class EATransformerEncoderLayer(TransformerEncoderLayerBase):
    """An encoder layer whose self-attention is a link of the encoder chain."""

    def __init__(self, cfg, ea: EAConfig, chain: AttentionChain, return_fc: bool = False) -> None:
        self.ea, self.ea_chain = ea, chain
        super().__init__(cfg, return_fc=return_fc)

    def build_self_attention(self, embed_dim: int, cfg) -> EvolvingMultiheadAttention:
        return EvolvingMultiheadAttention(
            embed_dim,
            cfg.encoder.attention_heads,
            ea=self.ea,
            chain=self.ea_chain,
            chain_name="encoder",
            dropout=cfg.attention_dropout,
            self_attention=True,
            q_noise=self.quant_noise,
            qn_block_size=self.quant_noise_block_size,
        )


class EATransformerDecoderLayer(TransformerDecoderLayerBase):
    """A decoder layer whose self- and encoder-attention are links of the decoder and cross chains.

    A chain given as ``None`` keeps fairseq's plain attention for that sublayer.
    """

    def __init__(
        self,
        cfg,
        ea: EAConfig,
        self_chain: AttentionChain | None,
        cross_chain: AttentionChain | None,
        no_encoder_attn: bool = False,
    ) -> None:
        if cfg.cross_self_attention and self_chain is not None:
            raise ValueError("evolving attention does not support --cross-self-attention")
        self.ea, self.ea_self_chain, self.ea_cross_chain = ea, self_chain, cross_chain
        super().__init__(cfg, no_encoder_attn=no_encoder_attn)

    def build_self_attention(self, embed_dim: int, cfg, add_bias_kv=False, add_zero_attn=False):
        if self.ea_self_chain is None:
            return super().build_self_attention(embed_dim, cfg, add_bias_kv, add_zero_attn)
        return EvolvingMultiheadAttention(
            embed_dim,
            cfg.decoder.attention_heads,
            ea=self.ea,
            chain=self.ea_self_chain,
            chain_name="decoder",
            dropout=cfg.attention_dropout,
            add_bias_kv=add_bias_kv,
            add_zero_attn=add_zero_attn,
            self_attention=True,
            q_noise=self.quant_noise,
            qn_block_size=self.quant_noise_block_size,
        )

    def build_encoder_attention(self, embed_dim: int, cfg):
        if self.ea_cross_chain is None:
            return super().build_encoder_attention(embed_dim, cfg)
        return EvolvingMultiheadAttention(
            embed_dim,
            cfg.decoder.attention_heads,
            ea=self.ea,
            chain=self.ea_cross_chain,
            chain_name="cross",
            kdim=cfg.encoder.embed_dim,
            vdim=cfg.encoder.embed_dim,
            dropout=cfg.attention_dropout,
            encoder_decoder_attention=True,
            q_noise=self.quant_noise,
            qn_block_size=self.quant_noise_block_size,
        )
