"""``python -m ea_mt.fairseq_train``: fairseq-train, with one fix for validation BLEU.

fairseq's translation task logs ``bleu`` only when the hypotheses hold at least one
word; early in training a model may emit nothing but end-of-sentence, and then
``--best-checkpoint-metric bleu`` stops training with ``KeyError: 'bleu'``.  Here an
empty set of hypotheses scores BLEU 0 instead.  The patch lives in this process only,
so checkpoints still name fairseq's own ``translation`` task.
"""

from __future__ import annotations

import logging
import os
import sys

from fairseq import metrics
from fairseq.tasks.translation import EVAL_BLEU_ORDER, TranslationTask


def _bleu_zero_when_empty() -> None:
    reduce_metrics = TranslationTask.reduce_metrics

    def patched(self, logging_outputs, criterion):
        reduce_metrics(self, logging_outputs, criterion)
        if not any("_bleu_totals_0" in log for log in logging_outputs):
            return  # training statistics, or BLEU off
        totals = [
            sum(log.get(f"_bleu_totals_{i}", 0) for log in logging_outputs)
            for i in range(EVAL_BLEU_ORDER)
        ]
        if max(totals) <= 0:
            metrics.log_scalar("bleu", 0.0)

    TranslationTask.reduce_metrics = patched


def _log_as_fairseq_train() -> None:
    """fairseq_cli.train's logging setup, which importing ea_mt first pre-empted."""
    logging.basicConfig(
        format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        level=os.environ.get("LOGLEVEL", "INFO").upper(),
        stream=sys.stdout,
        force=True,
    )


def main() -> None:
    """Run fairseq-train's command line with the patch applied."""
    _log_as_fairseq_train()
    _bleu_zero_when_empty()
    from fairseq_cli.train import cli_main

    cli_main()


if __name__ == "__main__":
    main()
