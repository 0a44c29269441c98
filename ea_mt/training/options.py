"""What a training run may be asked for: the fields and defaults of ``ea-mt train``.

Light on purpose (no torch, no fairseq), so the command line reads its defaults from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ea_mt.devices import DEFAULT_DEVICE

TRAIN_CONFIG_FORMAT = "ea-mt-train-config"


@dataclass(frozen=True)
class TrainOptions:
    """What the user asked for; None means "the architecture family's preset"."""

    arch: str = "ea_transformer"
    lr: float | None = None
    warmup: int | None = None
    max_tokens: int | None = None
    dropout: float | None = None
    max_epoch: int | None = None
    max_update: int | None = None
    patience: int | None = None
    seed: int = 1
    ea_alpha: float | None = None
    ea_beta: float | None = None
    ea_kernel_size: int | None = None
    ea_chains: str | None = None
    ea_ramp_updates: int | None = None
    save_interval_updates: int | None = None
    keep_last: int = 10
    eval_bleu: bool = True
    device: str = DEFAULT_DEVICE
    log_interval: int = 25
    threads: int | None = None  # CPU threads of fairseq-train; None: PyTorch's default
    nproc: int = 1  # DDP processes on this machine (torch.distributed.run)
    extra_args: tuple[str, ...] = ()
