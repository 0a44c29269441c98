"""What keeps a fairseq-train process's checkpoints complete and its run resumable.

Installed by ``python -m ea_mt.training.fairseq_train`` and ``ea_mt.training.distributed`` in their
own process only (checkpoints still name fairseq's own classes):

* **atomic copies**: fairseq writes a checkpoint to ``NAME.tmp`` and renames it, but
  then *copies* it to ``checkpoint_best.pt``/``checkpoint_last.pt`` in place, so a
  kill during that copy left a truncated ``checkpoint_last.pt``.  Copies now go to a
  temporary file, are synced and renamed over the target.
* **stop on SIGINT/SIGTERM**: the first signal asks training to stop after the
  current update; a checkpoint is saved (``checkpoint_last.pt``, mid-epoch position
  included) and the process exits with 128 + the signal number.  All ranks of a
  distributed run agree on the update to stop at.  A second signal stops at once.
* **early stopping in checkpoints**: ``--patience`` counts validations without a
  better score in a function attribute fairseq never saves; it is stored in the
  checkpoint's task state and restored on resume.
* **nothing past the end**: a rerun of a run that already reached ``--max-update`` (or
  ran out of ``--patience``) stops before training, where fairseq would do one more
  update first.
* **the same batches after a resume**: fairseq builds an iterator's batches once, from
  the data order seeded with ``seed + epoch`` of the epoch it starts at, and reuses
  them for every later epoch; a run resumed in epoch 2 thus trained on other batches
  than the uninterrupted run.  Batches are now always those of epoch 1.
* **one run per directory**: the master rank takes :mod:`ea_mt.training.runlock`'s lock on
  ``--save-dir`` (unless an ``ea-mt train`` parent already holds it for this process).
* **rank agreement**: in a distributed run every rank logs a checksum of its
  parameters after each checkpoint save, so diverging replicas show in the log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from ea_mt.fileio import copy_atomic
from ea_mt.training import runlock

logger = logging.getLogger("ea_mt.training.safety")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PARAMS_LOG = "parameters sha256"  # "rank R update U parameters sha256 HEX"


class _StopRequest:
    """The first stop signal received, if any."""

    signum: int | None = None


_stop = _StopRequest()
_lock: runlock.RunLock | None = None


def install() -> None:
    """Apply every safeguard above to fairseq in this process."""
    _atomic_checkpoint_copies()
    _stop_on_signals()
    _early_stopping_in_checkpoints()
    _no_update_past_the_end()
    _batches_independent_of_the_starting_epoch()
    _lock_save_dir()
    _log_parameter_checksums()


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; else nothing).

    A training process whose launcher was killed would otherwise go on writing
    checkpoints unseen, racing the rerun that resumes them.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


def stop_signal() -> int | None:
    """The signal that asked training to stop, or None."""
    return _stop.signum


def parameters_sha256(state: Mapping[str, Any]) -> str:
    """SHA-256 over a state dict's names and tensor bytes, in order."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _atomic_checkpoint_copies() -> None:
    from fairseq import checkpoint_utils
    from fairseq.file_io import PathManager

    class AtomicCopyPathManager(PathManager):
        @staticmethod
        def copy(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
            if "://" in src_path or "://" in dst_path:  # iopath's remote stores
                return PathManager.copy(src_path, dst_path, overwrite)
            if not overwrite and os.path.exists(dst_path):
                return False
            copy_atomic(src_path, dst_path)
            return True

    checkpoint_utils.PathManager = AtomicCopyPathManager


def _stop_on_signals() -> None:
    from fairseq import checkpoint_utils
    from fairseq_cli import train

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if _stop.signum is not None:
            raise KeyboardInterrupt  # the second signal: stop now
        _stop.signum = signum
        logger.warning("%s received: stopping after this update with a checkpoint "
                       "(send it again to stop at once)", signal.Signals(signum).name)

    for signum in STOP_SIGNALS:
        signal.signal(signum, request_stop)

    validate_and_save = train.validate_and_save

    def validate_save_or_stop(cfg, trainer, task, epoch_itr, valid_subsets, end_of_epoch):
        valid_losses, should_stop = validate_and_save(
            cfg, trainer, task, epoch_itr, valid_subsets, end_of_epoch
        )
        if should_stop or not _stop_agreed(trainer):
            return valid_losses, should_stop
        checkpoint_utils.save_checkpoint(cfg.checkpoint, trainer, epoch_itr, None)
        logger.info("Stopping training due to a stop signal at update %d",
                    trainer.get_num_updates())
        return valid_losses, True

    train.validate_and_save = validate_save_or_stop


def _stop_agreed(trainer: Any) -> bool:
    """Whether any rank was asked to stop (every rank calls this after each update)."""
    requested = _stop.signum is not None
    if trainer.data_parallel_world_size <= 1:
        return requested
    import torch
    from fairseq.distributed import utils as distributed_utils

    flag = torch.tensor([float(requested)], device=trainer.device)
    distributed_utils.all_reduce(flag, group=trainer.data_parallel_process_group, op="max")
    if flag.item() > 0 and _stop.signum is None:
        _stop.signum = signal.SIGTERM  # another rank got it; exit as if we had too
    return flag.item() > 0


def _early_stopping_in_checkpoints() -> None:
    from fairseq.tasks.translation import TranslationTask
    from fairseq_cli import train

    early = train.should_stop_early
    key = "ea_mt_early_stop"

    def get_checkpoint_dict(self: TranslationTask) -> dict[str, Any]:
        if not hasattr(early, "best"):
            return {}
        state = {"best": float(early.best), "num_runs": int(getattr(early, "num_runs", 0))}
        return {type(self).__name__: {key: state}}

    def set_checkpoint_dict(self: TranslationTask, state: dict[str, Any]) -> None:
        saved = state.get(key)
        if saved is not None:
            early.best = saved["best"]
            early.num_runs = saved["num_runs"]
            logger.info("early stopping restored: best %s, %d validations without a better one",
                        saved["best"], saved["num_runs"])

    TranslationTask.get_checkpoint_dict = get_checkpoint_dict
    TranslationTask.set_checkpoint_dict = set_checkpoint_dict


def _no_update_past_the_end() -> None:
    from fairseq_cli import train

    epoch = train.train

    def train_unless_done(cfg, trainer, task, epoch_itr):
        max_update = cfg.optimization.max_update
        patience = cfg.checkpoint.patience
        if max_update and trainer.get_num_updates() >= max_update:
            reason = f"num_updates: {trainer.get_num_updates()} >= max_update: {max_update}"
        elif patience > 0 and getattr(train.should_stop_early, "num_runs", 0) >= patience:
            reason = f"patience: {patience} validations without a better score"
        else:
            return epoch(cfg, trainer, task, epoch_itr)
        logger.info("Stopping training due to %s (reached by an earlier run)", reason)
        return [None], True

    train.train = train_unless_done


def _batches_independent_of_the_starting_epoch() -> None:
    from fairseq.tasks import FairseqTask

    get_batch_iterator = FairseqTask.get_batch_iterator

    def epoch_one_batches(self: FairseqTask, dataset: Any, *args: Any, epoch: int = 1,
                          **kwargs: Any) -> Any:
        cached = self.dataset_to_epoch_iter.get(dataset)  # reused as is: its epoch runs on
        iterator = get_batch_iterator(self, dataset, *args, epoch=1, **kwargs)
        if iterator is not cached:
            dataset.set_epoch(epoch)
            iterator.epoch = max(epoch, 1)
        return iterator

    FairseqTask.get_batch_iterator = epoch_one_batches


def _lock_save_dir() -> None:
    from fairseq import checkpoint_utils

    verify = checkpoint_utils.verify_checkpoint_directory

    def lock_then_verify(save_dir: str) -> None:  # fairseq calls it on the master rank only
        global _lock
        verify(save_dir)
        if _lock is None and not runlock.held_by_parent(Path(save_dir)):
            _lock = runlock.acquire(Path(save_dir), "fairseq-train")

    checkpoint_utils.verify_checkpoint_directory = lock_then_verify


def _log_parameter_checksums() -> None:
    from fairseq import checkpoint_utils

    save_checkpoint: Callable[..., Any] = checkpoint_utils.save_checkpoint

    def save_and_log(cfg, trainer, epoch_itr, val_loss):
        saved = save_checkpoint(cfg, trainer, epoch_itr, val_loss)
        if trainer.data_parallel_world_size > 1:
            logger.warning("rank %d update %d %s %s", trainer.data_parallel_rank,
                           trainer.get_num_updates(), PARAMS_LOG,
                           parameters_sha256(trainer.get_model().state_dict()))
        return saved

    checkpoint_utils.save_checkpoint = save_and_log
