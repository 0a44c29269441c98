"""``torchrun ... -m ea_mt.training.distributed DATA [fairseq-train options]``: one DDP rank.

Plain ``torchrun fairseq-train`` does not work here: without
``--distributed-world-size`` each process trains alone (N runs writing one checkpoint
directory), and with it fairseq's torchrun detection divides by the CUDA device count
(``ZeroDivisionError`` on CPU).  This entry point reads torchrun's environment itself
and hands fairseq explicit options instead, on CPU (gloo) and GPU (NCCL) alike:

    --distributed-world-size $WORLD_SIZE --distributed-rank $RANK
    --distributed-init-method env:// --distributed-no-spawn --device-id $LOCAL_RANK
    --distributed-backend gloo|nccl

On CPU (gloo) it also sets ``--ddp-backend legacy_ddp`` unless given: PyTorch's
DistributedDataParallel, fairseq's default, refuses the ``device_ids`` fairseq passes
for a CPU model.  ``env://`` makes torch join the rendezvous torchrun set up (``MASTER_ADDR``,
``MASTER_PORT``).  Then it runs :func:`ea_mt.training.fairseq_train.main`, safeguards included.
"""

from __future__ import annotations

import os
import sys

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def distributed_args(env: dict[str, str], argv: list[str], cuda: bool) -> list[str]:
    """The fairseq options for the rank that torchrun's ``env`` describes."""
    missing = [name for name in TORCHRUN_ENV if name not in env]
    if missing:
        raise SystemExit(
            f"ea_mt.training.distributed: {', '.join(missing)} not set; start it with torchrun "
            "(e.g. torchrun --nproc_per_node 2 -m ea_mt.training.distributed DATA ...)"
        )
    backend = "nccl" if cuda and "--cpu" not in argv else "gloo"
    legacy = backend == "gloo" and "--ddp-backend" not in argv
    return [
        *(["--ddp-backend", "legacy_ddp"] if legacy else []),
        "--distributed-world-size", env["WORLD_SIZE"],
        "--distributed-rank", env["RANK"],
        "--distributed-init-method", "env://",
        "--distributed-no-spawn",
        "--device-id", env["LOCAL_RANK"],
        "--distributed-backend", backend,
    ]  # fmt: skip


def main() -> None:
    """Run this rank of a torchrun-launched fairseq training."""
    import torch

    from ea_mt.training import fairseq_train
    from ea_mt.training.safety import die_with_parent

    die_with_parent()  # torchrun's workers outlive a SIGKILLed torchrun otherwise
    fairseq_train.main(distributed_args(dict(os.environ), sys.argv, torch.cuda.is_available()))


if __name__ == "__main__":
    main()
