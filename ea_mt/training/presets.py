"""Training presets per architecture family, and which architectures ``train`` accepts.

The values follow fairseq's published translation recipes (IWSLT'14 De-En,
WMT'16 En-De base and big with inverse-sqrt warm-up); the tiny family is for
smoke tests and the CPU demo.  Every value can be overridden on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass

from ea_mt.errors import UserError

EA_PREFIX = "ea_"


@dataclass(frozen=True)
class Preset:
    """Optimisation defaults for one architecture family."""

    lr: float
    warmup: int
    dropout: float
    max_tokens: int
    max_update: int
    clip_norm: float
    weight_decay: float


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        lr=1e-3,
        warmup=1000,
        dropout=0.1,
        max_tokens=4096,
        max_update=20_000,
        clip_norm=1.0,
        weight_decay=0.0,
    ),
    "iwslt": Preset(
        lr=5e-4,
        warmup=4000,
        dropout=0.3,
        max_tokens=4096,
        max_update=60_000,
        clip_norm=0.0,
        weight_decay=1e-4,
    ),
    "base": Preset(
        lr=7e-4,
        warmup=4000,
        dropout=0.1,
        max_tokens=4096,
        max_update=100_000,
        clip_norm=0.0,
        weight_decay=0.0,
    ),
    "big": Preset(
        lr=5e-4,
        warmup=4000,
        dropout=0.3,
        max_tokens=4096,
        max_update=300_000,
        clip_norm=0.0,
        weight_decay=0.0,
    ),
}


def family(arch: str) -> str:
    """The preset family of an architecture name: tiny, iwslt, big or base."""
    if arch.endswith("_tiny"):
        return "tiny"
    if "iwslt" in arch:
        return "iwslt"
    if "_big" in arch:
        return "big"
    return "base"


def is_ea(arch: str) -> bool:
    """Whether the architecture has evolving attention (takes the --ea-* options)."""
    return arch.startswith(EA_PREFIX)


def translation_architectures() -> list[str]:
    """The encoder-decoder Transformer architectures ``train`` accepts, EA and vanilla."""
    from fairseq.models import ARCH_MODEL_REGISTRY

    import ea_mt  # noqa: F401  (registers the ea_transformer architectures)

    return sorted(
        name
        for name, model in ARCH_MODEL_REGISTRY.items()
        if model.__name__ in ("TransformerModel", "EATransformerModel")
        and name.startswith(("transformer", EA_PREFIX))
    )


def check_arch(arch: str) -> None:
    """A UserError, listing the choices, unless ``arch`` is a known translation Transformer."""
    known = translation_architectures()
    if arch not in known:
        raise UserError(
            f"--arch {arch!r} is not a translation Transformer this tool trains; "
            f"choose one of: {', '.join(known)}"
        )
