"""The ``ea_transformer`` fairseq model and its architectures (fairseq's presets, EA added)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fairseq.models import (
    ARCH_MODEL_REGISTRY,
    MODEL_REGISTRY,
    register_model,
    register_model_architecture,
)
from fairseq.models.transformer import TransformerConfig, TransformerModel
from fairseq.models.transformer import transformer_legacy as vanilla

from ea_mt.models.config import (
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    DEFAULT_KERNEL_SIZE,
    DEFAULT_RAMP_UPDATES,
    EAConfig,
)
from ea_mt.models.encoder_decoder import EATransformerDecoder, EATransformerEncoder

logger = logging.getLogger(__name__)

EA_CONV_KEY = ".ea_conv."


class EATransformerModel(TransformerModel):
    """Evolving-Attention Transformer (Wang et al., ICML 2021) on fairseq's transformer.

    Every parameter is named as in fairseq's ``transformer`` except the ``ea_conv``
    convolutions, so a vanilla checkpoint of the same size warm-starts an EA model
    (``--finetune-from-model vanilla.pt``; the convolutions keep their fresh weights).
    """

    @classmethod
    def add_args(cls, parser) -> None:
        super().add_args(parser)
        parser.add_argument("--ea-alpha", type=float, metavar="A",
                            help=f"weight α of the previous layer's map (default {DEFAULT_ALPHA})")
        parser.add_argument("--ea-beta", type=float, metavar="B",
                            help=f"weight β of the convolution branch (default {DEFAULT_BETA})")
        parser.add_argument("--ea-kernel-size", type=int, metavar="K",
                            help=f"odd kernel size k (default {DEFAULT_KERNEL_SIZE})")
        parser.add_argument("--ea-chains", type=str, metavar="LIST",
                            help="comma-separated chains that evolve, of encoder,decoder,cross; "
                                 "'none' for plain attention everywhere (default all three)")
        parser.add_argument("--ea-ramp-updates", type=int, metavar="N",
                            help="in training, scale α and β linearly from 0 to their values "
                                 "over the first N updates (default "
                                 f"{DEFAULT_RAMP_UPDATES}: off); inference uses them in full")

    @classmethod
    def build_model(cls, args, task):
        ea = ea_defaults(args)
        if ea.chains and getattr(args, "checkpoint_activations", False):
            raise ValueError("evolving attention does not support --checkpoint-activations")
        return super().build_model(args, task)

    @classmethod
    def build_encoder(cls, args, src_dict, embed_tokens):
        return EATransformerEncoder(TransformerConfig.from_namespace(args), src_dict, embed_tokens)

    @classmethod
    def build_decoder(cls, args, tgt_dict, embed_tokens):
        cfg = TransformerConfig.from_namespace(args)
        return EATransformerDecoder(cfg, tgt_dict, embed_tokens,
                                    no_encoder_attn=cfg.no_cross_attention)

    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        """Load weights; a vanilla transformer's state dict may leave out every ``ea_conv``.

        Strictness is only ever relaxed, never tightened: ``strict=False`` stays non-strict.
        """
        from_vanilla = strict and not any(EA_CONV_KEY in name for name in state_dict)
        result = super().load_state_dict(state_dict, strict=strict and not from_vanilla,
                                         model_cfg=model_cfg, args=args)
        if from_vanilla:
            missing = [name for name in result.missing_keys if EA_CONV_KEY not in name]
            if missing or result.unexpected_keys:
                raise RuntimeError(
                    "state dict does not match the model: missing "
                    f"{missing}, unexpected {result.unexpected_keys}"
                )
            if result.missing_keys:
                logger.info("loaded vanilla transformer weights; %d EA convolution tensors keep "
                            "their initialisation", len(result.missing_keys))
        return result


def ea_defaults(args) -> EAConfig:
    """Write the effective evolving-attention settings into ``args`` (defaults for those a
    checkpoint or command line left out), so that the saved config holds what was built."""
    ea = EAConfig.from_args(args)
    args.ea_alpha, args.ea_beta, args.ea_kernel_size = ea.alpha, ea.beta, ea.kernel_size
    args.ea_chains, args.ea_ramp_updates = ea.chains_text, ea.ramp_updates
    return ea


# fairseq's presets that get an EA twin: ea_<name> has exactly <name>'s dimensions.
PRESETS: dict[str, Callable] = {
    "ea_transformer_tiny": vanilla.tiny_architecture,
    "ea_transformer": vanilla.base_architecture,
    "ea_transformer_iwslt_de_en": vanilla.transformer_iwslt_de_en,
    "ea_transformer_wmt_en_de": vanilla.transformer_wmt_en_de,
    "ea_transformer_vaswani_wmt_en_de_big": vanilla.transformer_vaswani_wmt_en_de_big,
    "ea_transformer_wmt_en_de_big": vanilla.transformer_wmt_en_de_big,
    # The big preset users ask for by this name: Vaswani et al.'s big dimensions, dropout 0.3.
    "ea_transformer_big": vanilla.transformer_vaswani_wmt_en_de_big,
}


def _ea_architecture(preset: Callable) -> Callable:
    def architecture(args) -> None:
        ea_defaults(args)
        preset(args)

    architecture.__doc__ = f"{preset.__name__} with evolving attention."
    return architecture


def register() -> None:
    """Register the model and its architectures with fairseq, once per process."""
    if "ea_transformer" not in MODEL_REGISTRY:
        register_model("ea_transformer")(EATransformerModel)
    for name, preset in PRESETS.items():
        if name not in ARCH_MODEL_REGISTRY:
            register_model_architecture("ea_transformer", name)(_ea_architecture(preset))


register()
