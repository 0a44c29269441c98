"""EA vs vanilla over settings (issue #15): one table of every setting's test-set
differences, from quality report folders (``python -m benchmarks.quality --out DIR``).

    python -m benchmarks.summary REPORT_DIR [REPORT_DIR ...] [--out DIR]
    python -m benchmarks.summary --manifest settings.yaml [--out DIR]

A setting is a data set and direction; without a manifest each report's EA and vanilla
runs of each seed are a pair, and reports of the same data set and direction (a later
seed, say) join one setting. A manifest names the settings, their report folders and,
where the default pairing does not apply (the upgrade experiment), the pairs
(``sources.settings_from_manifest``).

Per setting: mean ΔBLEU and ΔchrF (EA − vanilla) over seeds, each seed's with its paired
bootstrap p-value, and a 95% paired bootstrap interval of the mean difference, the
seeds pooled by resampling the sentences jointly (``bootstrap``). The interval needs
every seed's test translations: the report's ``hyps/`` copies, else the files in the work
directory where they still exist; without them the table still gives each seed's
difference and p-value, and says that the interval needs the translations. With more than
one setting, a last row ``all settings``: the mean over every seed of every setting and its
interval, each test set resampled on its own (``bootstrap.pooled_interval``).

Writes ``summary.md``, ``summary.json`` and ``delta_bleu.png`` to ``--out`` (default
``benchmarks/results/summary``).
"""

from benchmarks.summary.bootstrap import (
    Translations,
    delta_interval,
    pooled_interval,
    resample_counts,
)
from benchmarks.summary.compute import summarize
from benchmarks.summary.markdown import markdown
from benchmarks.summary.plots import plot_delta_bleu
from benchmarks.summary.sources import settings_from_manifest, settings_from_reports

__all__ = ["Translations", "delta_interval", "markdown", "plot_delta_bleu", "pooled_interval",
           "resample_counts", "settings_from_manifest", "settings_from_reports", "summarize"]
