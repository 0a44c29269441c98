"""The evolving-attention settings of a model: their only definition and defaults.

Every front end (fairseq's --ea-* arguments, ``ea-mt train``, the benchmarks) resolves the
settings through :meth:`EAConfig.resolve`, so a default changed here changes everywhere.
"""

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

    @property
    def chains_text(self) -> str:
        """The chains as ``--ea-chains`` writes them, in canonical order ("none" if none)."""
        return ",".join(name for name in CHAINS if name in self.chains) or "none"

    @classmethod
    def resolve(
        cls,
        alpha: float | None = None,
        beta: float | None = None,
        kernel_size: int | None = None,
        chains: str | list[str] | tuple[str, ...] | None = None,
    ) -> EAConfig:
        """The effective settings: each value not given (None) takes its default."""
        return cls(
            alpha=DEFAULT_ALPHA if alpha is None else float(alpha),
            beta=DEFAULT_BETA if beta is None else float(beta),
            kernel_size=DEFAULT_KERNEL_SIZE if kernel_size is None else int(kernel_size),
            chains=parse_chains(chains),
        )

    @classmethod
    def from_args(cls, args: Any) -> EAConfig:
        """Read the ``ea_*`` fields of a fairseq argparse Namespace or TransformerConfig."""
        return cls.resolve(
            alpha=getattr(args, "ea_alpha", None),
            beta=getattr(args, "ea_beta", None),
            kernel_size=getattr(args, "ea_kernel_size", None),
            chains=getattr(args, "ea_chains", None),
        )
