"""Translation quality of EA vs vanilla fairseq Transformers of equal size (issue #4).

One command prepares the data once, trains the EA model and the vanilla Transformer of the
same size with identical settings and seeds, translates the test and validation sets and
scores them with sacreBLEU (BLEU, chrF) and the paired bootstrap test. Every step runs the
public CLI as a subprocess (``ea-mt prepare``, ``ea-mt train``, ``ea-mt evaluate``,
``ea-mt score --baseline``), so the same experiment can be repeated by hand on any data.

    python -m benchmarks.quality --src en --tgt de --train PREFIX --valid PREFIX \\
        --test PREFIX [--profile multi30k|tatoeba|quick] [--seeds 1,2] \\
        [--variants ea,vanilla,...] [--sweep alpha=0.3,0.5,0.7 beta=0.3,0.5,0.7] \\
        [--max-update N] [--patience N] [--jobs 2] [--quick] \\
        [--upgrade-from [vanilla-s1|CHECKPOINT.pt] [--ramp-updates N]]

Variants: ``ea`` and ``vanilla`` (every seed); the ablations ``ea-encoder-only``
(``--ea-chains encoder``), ``ea-decoder-only`` (``--ea-chains decoder``) and
``alpha-only`` (``--ea-beta 0``: residual mix of the maps, no convolution) at the first
seed only. ``--sweep`` trains EA at every α × β of the grid and every seed and scores it
on the validation set only, never on the test set; the report averages each point over the
seeds and weighs the best point against the defaults' seed-to-seed spread.
``--sweep`` may be repeated: the points are the union of the grids, so
``--sweep alpha=0.3,0.7 --sweep beta=0.3,0.7`` moves one weight at a time from the defaults.

Convergence. ``--patience N`` stops each run after N validations (every 500 updates)
without a better validation BLEU, with ``--max-update`` as the cap; the report says for
each run whether it stopped on patience or at the cap, its validation BLEU curve and how
much it gained over its last 1000 updates, and plots the curves (``valid_curves.png``).

Layout. ``--workdir`` (default ``runs/quality/NAME.SRC-TGT``, git-ignored) holds the one
``ea-mt prepare`` of the data set and a model directory per run,
``WORKDIR/models/RUN/`` (``ea-mt train --save-dir``), with its ``eval/`` outputs, its
``train.log`` and ``quality-run.json``, the run's record. A rerun reuses every run whose
record has the same ``ea-mt train`` options; with a higher ``--max-update`` it continues the
runs (``ea-mt train`` resumes from checkpoint_last.pt); other changes need another
``--workdir``. ``--out`` (default ``benchmarks/results/quality-NAME``) receives
``report.md``, ``report.json``, ``bleu_per_seed.png`` and ``hyps/RUN.SPLIT.hyp``, a copy of
every evaluated run's translations (the work directory is not kept); ``report.json`` records
the references (path, lines, SHA-256), so that ``python -m benchmarks.summary`` can recompute
the paired statistics from the report folder alone.

Upgrade. ``--upgrade-from SOURCE`` (a checkpoint file, or a run of ``--workdir``; alone:
``vanilla-s1``) runs the upgrade experiment instead: from that trained vanilla model, vanilla
trained on (``continued-sN``) and EA warm-started (``warm-ea-sN``, convolutions fresh; with
``--ramp-updates N`` also ``warm-ea-rampN-sN``, ``ea-mt train --ea-ramp-updates N``), each
for ``--max-update`` further updates (``--patience`` to convergence) at the first seed,
scored against the start and EA against vanilla continued (``plan.train_args`` says why both
restart with ``--finetune-from-model``). Default ``--out``: ``quality-NAME-upgrade``.

Profiles (``--profile``; ``--name`` only names the data set, it never picks one).
``multi30k`` (the default) is the model and budget chosen for Multi30k on a 2-core CPU, see
``MULTI30K``; ``tatoeba`` is the same model trained to convergence on Tatoeba's 159k pairs
(validation every 1000 updates, ``--patience 3``, cap 40000, see ``TATOEBA``); ``--quick``
(``--profile quick``) is a smoke test: a tiny model, 100 updates, the first 2000/200/200
lines of the data, every variant and a two-point sweep. A profile other than ``multi30k``
adds its name to the default work directory and report folder.
``--arch-pair EA:VANILLA`` picks other architectures (at their own size unless
``--model-args`` gives one); ``--model-args '...'`` replaces the profile's size options
(raw fairseq-train options, passed after ``--``).

Time is wall-clock time of ``ea-mt train`` (startup and validations included); with
``--jobs 2`` two runs train side by side, one CPU thread each (``--threads``), the EA and
vanilla runs of one seed together, so both see the same load.
"""

from benchmarks.quality.experiment import MULTI30K, PROFILES, QUICK, TATOEBA, VARIANTS, Profile
from benchmarks.quality.markdown import (
    convergence_table,
    sweep_advice,
    sweep_table,
    upgrade_table,
)
from benchmarks.quality.options import Settings, Upgrade, parse_args, profile_from, settings_from
from benchmarks.quality.plan import (
    Run,
    plan_runs,
    plan_upgrade,
    sweep_grid,
    train_args,
    variant_run,
)
from benchmarks.quality.plots import plot_bleu_per_seed, plot_valid_curves
from benchmarks.quality.records import trained_as
from benchmarks.quality.run import train
from benchmarks.quality.stats import sweep_summary
from benchmarks.quality.training_log import convergence, validation_curve
from ea_mt.models.config import DEFAULT_ALPHA, DEFAULT_BETA  # the sweep's centre

__all__ = [
    "DEFAULT_ALPHA", "DEFAULT_BETA", "MULTI30K", "PROFILES", "QUICK", "TATOEBA", "VARIANTS",
    "Profile", "Run", "Settings", "Upgrade", "convergence", "convergence_table", "parse_args",
    "plan_runs", "plan_upgrade", "plot_bleu_per_seed", "plot_valid_curves", "profile_from",
    "settings_from", "sweep_advice", "sweep_grid", "sweep_summary", "sweep_table", "train",
    "train_args", "trained_as", "upgrade_table", "validation_curve", "variant_run",
]
