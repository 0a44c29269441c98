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
DEFAULT_RAMP_UPDATES = 0  # off: α and β apply in full from the first update


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
    """How attention maps evolve: M = α·A_prev + (1−α)·L, A = β·ReLU(Conv(M)) + (1−β)·M.

    ``ramp_updates`` N > 0 scales α and β linearly from 0 at update 0 to their values at
    update N during training (a gentle warm start from vanilla weights: at update 0 the
    model computes the vanilla transformer); inference always uses the full α and β.
    Validations during the ramp see the partial weights, so keep N well below the update
    where the best checkpoint is expected.
    """

    alpha: float = DEFAULT_ALPHA
    beta: float = DEFAULT_BETA
    kernel_size: int = DEFAULT_KERNEL_SIZE
    chains: frozenset[str] = frozenset(CHAINS)
    ramp_updates: int = DEFAULT_RAMP_UPDATES

    def __post_init__(self) -> None:
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"--ea-kernel-size must be odd and positive, got {self.kernel_size}")
        for name, value in (("--ea-alpha", self.alpha), ("--ea-beta", self.beta)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if self.ramp_updates < 0:
            raise ValueError(f"--ea-ramp-updates must be 0 or more, got {self.ramp_updates}")

    @property
    def chains_text(self) -> str:
        """The chains as ``--ea-chains`` writes them, in canonical order ("none" if none)."""
        return ",".join(name for name in CHAINS if name in self.chains) or "none"

    def option_values(self) -> dict[str, Any]:
        """The settings as the ``ea_*`` fields of the training options hold them."""
        return {"ea_alpha": self.alpha, "ea_beta": self.beta, "ea_kernel_size": self.kernel_size,
                "ea_chains": self.chains_text, "ea_ramp_updates": self.ramp_updates}

    def ramp(self, num_updates: int) -> float:
        """The factor on α and β after ``num_updates`` training updates: num_updates / N up
        to N = ``ramp_updates``, then 1 (always 1 when the ramp is off)."""
        if self.ramp_updates <= 0 or num_updates >= self.ramp_updates:
            return 1.0
        return max(num_updates, 0) / self.ramp_updates

    @classmethod
    def resolve(
        cls,
        alpha: float | None = None,
        beta: float | None = None,
        kernel_size: int | None = None,
        chains: str | list[str] | tuple[str, ...] | None = None,
        ramp_updates: int | None = None,
    ) -> EAConfig:
        """The effective settings: each value not given (None) takes its default."""
        return cls(
            alpha=DEFAULT_ALPHA if alpha is None else float(alpha),
            beta=DEFAULT_BETA if beta is None else float(beta),
            kernel_size=DEFAULT_KERNEL_SIZE if kernel_size is None else int(kernel_size),
            chains=parse_chains(chains),
            ramp_updates=DEFAULT_RAMP_UPDATES if ramp_updates is None else int(ramp_updates),
        )

    @classmethod
    def from_args(cls, args: Any) -> EAConfig:
        """Read the ``ea_*`` fields of a fairseq argparse Namespace or TransformerConfig."""
        return cls.resolve(
            alpha=getattr(args, "ea_alpha", None),
            beta=getattr(args, "ea_beta", None),
            kernel_size=getattr(args, "ea_kernel_size", None),
            chains=getattr(args, "ea_chains", None),
            ramp_updates=getattr(args, "ea_ramp_updates", None),
        )
