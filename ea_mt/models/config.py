"""The evolving-attention options of a model, read from fairseq's args or config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHAINS = ("encoder", "decoder", "cross")
DEFAULT_ALPHA = 0.5
DEFAULT_BETA = 0.5
DEFAULT_KERNEL_SIZE = 3


def parse_chains(value: str | list[str] | tuple[str, ...] | None) -> frozenset[str]:
    """Parse ``--ea-chains`` ("encoder,decoder,cross", "none" or "") into a set of chain names."""
    if value is None:
        return frozenset(CHAINS)
    items = value.split(",") if isinstance(value, str) else list(value)
    names = {item.strip() for item in items if item.strip() and item.strip() != "none"}
    unknown = names - set(CHAINS)
    if unknown:
        raise ValueError(
            f"--ea-chains: unknown chain(s) {sorted(unknown)}; choose from {', '.join(CHAINS)}"
        )
    return frozenset(names)


@dataclass(frozen=True)
class EAConfig:
    """How attention maps evolve: M = α·A_prev + (1−α)·L, A = β·ReLU(Conv(M)) + (1−β)·M."""

    alpha: float = DEFAULT_ALPHA
    beta: float = DEFAULT_BETA
    kernel_size: int = DEFAULT_KERNEL_SIZE
    chains: frozenset[str] = frozenset(CHAINS)

    def __post_init__(self) -> None:
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"--ea-kernel-size must be odd and positive, got {self.kernel_size}")
        for name, value in (("--ea-alpha", self.alpha), ("--ea-beta", self.beta)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")

    @classmethod
    def from_args(cls, args: Any) -> EAConfig:
        """Read the ``ea_*`` fields of a fairseq argparse Namespace or TransformerConfig."""
        return cls(
            alpha=float(getattr(args, "ea_alpha", DEFAULT_ALPHA)),
            beta=float(getattr(args, "ea_beta", DEFAULT_BETA)),
            kernel_size=int(getattr(args, "ea_kernel_size", DEFAULT_KERNEL_SIZE)),
            chains=parse_chains(getattr(args, "ea_chains", None)),
        )
