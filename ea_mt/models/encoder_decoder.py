"""fairseq's transformer encoder and decoder, with their attention chains opened per pass."""

from __future__ import annotations

from contextlib import ExitStack

from fairseq.distributed import fsdp_wrap
from fairseq.models.transformer import TransformerDecoderBase, TransformerEncoderBase

from ea_mt.models.attention import AttentionChain
from ea_mt.models.config import EAConfig
from ea_mt.models.layers import EATransformerDecoderLayer, EATransformerEncoderLayer


class EATransformerEncoder(TransformerEncoderBase):
    """Transformer encoder whose self-attention maps evolve from layer to layer."""

    def __init__(self, cfg, dictionary, embed_tokens, return_fc: bool = False) -> None:
        self.ea = EAConfig.from_args(cfg)
        self.self_attn_chain = AttentionChain() if "encoder" in self.ea.chains else None
        super().__init__(cfg, dictionary, embed_tokens, return_fc=return_fc)

    def build_encoder_layer(self, cfg):
        if self.self_attn_chain is None:
            return super().build_encoder_layer(cfg)
        layer = EATransformerEncoderLayer(cfg, self.ea, self.self_attn_chain, self.return_fc)
        return fsdp_wrap(layer, min_num_params=cfg.min_params_to_wrap)

    def forward_scriptable(self, src_tokens, src_lengths=None, return_all_hiddens=False,
                           token_embeddings=None):
        with ExitStack() as passes:
            if self.self_attn_chain is not None:
                passes.enter_context(self.self_attn_chain.forward_pass())
            return super().forward_scriptable(
                src_tokens, src_lengths, return_all_hiddens, token_embeddings
            )


class EATransformerDecoder(TransformerDecoderBase):
    """Transformer decoder whose self- and encoder-attention maps evolve from layer to layer."""

    def __init__(self, cfg, dictionary, embed_tokens, no_encoder_attn: bool = False,
                 output_projection=None) -> None:
        self.ea = EAConfig.from_args(cfg)
        self.self_attn_chain = AttentionChain() if "decoder" in self.ea.chains else None
        self.cross_attn_chain = AttentionChain() if "cross" in self.ea.chains else None
        super().__init__(cfg, dictionary, embed_tokens, no_encoder_attn, output_projection)

    def build_decoder_layer(self, cfg, no_encoder_attn: bool = False):
        if self.self_attn_chain is None and self.cross_attn_chain is None:
            return super().build_decoder_layer(cfg, no_encoder_attn)
        layer = EATransformerDecoderLayer(
            cfg, self.ea, self.self_attn_chain, self.cross_attn_chain, no_encoder_attn
        )
        return fsdp_wrap(layer, min_num_params=cfg.min_params_to_wrap)

    def extract_features_scriptable(self, prev_output_tokens, encoder_out, incremental_state=None,
                                    full_context_alignment=False, alignment_layer=None,
                                    alignment_heads=None):
        with ExitStack() as passes:
            for chain in (self.self_attn_chain, self.cross_attn_chain):
                if chain is not None:
                    passes.enter_context(chain.forward_pass())
            return super().extract_features_scriptable(
                prev_output_tokens,
                encoder_out,
                incremental_state,
                full_context_alignment,
                alignment_layer,
                alignment_heads,
            )
