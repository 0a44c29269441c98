"""``python -m ea_mt.training.fairseq_train``: fairseq-train, with a fix for validation BLEU.

fairseq's translation task logs ``bleu`` only when the hypotheses hold at least one
word; early in training a model may emit nothing but end-of-sentence, and then
``--best-checkpoint-metric bleu`` stops training with ``KeyError: 'bleu'``.  Here
hypotheses without a word score BLEU 0 instead.  The patch lives in this process only,
so checkpoints still name fairseq's own ``translation`` task.

The safeguards of :mod:`ea_mt.training.safety` (atomic checkpoint copies, a checkpoint on
SIGINT/SIGTERM, early-stopping state in checkpoints, one run per ``--save-dir``) are
installed too.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

import numpy as np
import torch
from fairseq import metrics
from fairseq.tasks import FairseqTask
from fairseq.tasks.translation import EVAL_BLEU_ORDER, TranslationTask
from sacrebleu.metrics import BLEU

from ea_mt.errors import UserError
from ea_mt.training import safety as train_safety


def _bleu_zero_when_empty() -> None:
    """TranslationTask.reduce_metrics, less its ``if max(totals) > 0`` guard.

    fairseq reduces after every validation batch, so ``bleu`` must be the one derived
    meter over the summed n-gram counts whatever each batch held.
    """

    def reduce_metrics(self, logging_outputs, criterion):
        FairseqTask.reduce_metrics(self, logging_outputs, criterion)
        if not any("_bleu_totals_0" in log for log in logging_outputs):
            return  # training statistics, or BLEU off

        def total(key: str):
            value = sum(log.get(key, 0) for log in logging_outputs)
            return value.cpu() if torch.is_tensor(value) else value

        metrics.log_scalar("_bleu_counts", np.array(
            [total(f"_bleu_counts_{i}") for i in range(EVAL_BLEU_ORDER)]))
        metrics.log_scalar("_bleu_totals", np.array(
            [total(f"_bleu_totals_{i}") for i in range(EVAL_BLEU_ORDER)]))
        metrics.log_scalar("_bleu_sys_len", total("_bleu_sys_len"))
        metrics.log_scalar("_bleu_ref_len", total("_bleu_ref_len"))
        metrics.log_derived("bleu", _corpus_bleu)

    TranslationTask.reduce_metrics = reduce_metrics


def _corpus_bleu(meters) -> float:
    """sacrebleu's corpus BLEU from summed statistics; 0 when no hypothesis has a word."""
    totals = meters["_bleu_totals"].sum
    if max(totals) <= 0:
        return 0.0
    bleu = BLEU.compute_bleu(
        correct=meters["_bleu_counts"].sum,
        total=totals,
        sys_len=int(meters["_bleu_sys_len"].sum),
        ref_len=int(meters["_bleu_ref_len"].sum),
        smooth_method="exp",
    )
    return round(bleu.score, 2)


def _log_as_fairseq_train() -> None:
    """fairseq_cli.train's logging setup, which importing ea_mt first pre-empted."""
    logging.basicConfig(
        format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        level=os.environ.get("LOGLEVEL", "INFO").upper(),
        stream=sys.stdout,
        force=True,
    )


def _quiet_known_deprecations() -> None:
    """fairseq's training step calls ``torch.cuda.amp.autocast``, deprecated in torch 2.4:
    a FutureWarning at the first update of every run, even on CPU, about fairseq's code."""
    warnings.filterwarnings(
        "ignore", message=r"`torch\.cuda\.amp\.autocast\(args\.\.\.\)` is deprecated",
        category=FutureWarning,
    )


def main(extra_args: list[str] | None = None) -> None:
    """Run fairseq-train's command line (plus ``extra_args``) with the patches applied.

    Exits with 128 + the signal number when a stop signal ended training early.
    """
    _log_as_fairseq_train()
    _quiet_known_deprecations()
    _bleu_zero_when_empty()
    train_safety.install()
    from fairseq_cli.train import cli_main

    sys.argv += extra_args or []
    try:
        cli_main()
    except UserError as error:
        print(f"ea-mt: error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    stopped = train_safety.stop_signal()
    if stopped is not None:
        sys.exit(128 + stopped)


if __name__ == "__main__":
    main()
