"""The files of a run: results.json as it goes, results.md and the figures at the end."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import write_json
from benchmarks.speed.markdown import results_markdown
from benchmarks.speed.plots import plot_steps, plot_training
from benchmarks.speed.settings import Results


def write_outputs(results: Results, out: Path, final: bool) -> None:
    """results.json always; results.md and the plots once the run is over."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", results, indent=1)
    if not final:
        return
    (out / "results.md").write_text(results_markdown(results), encoding="utf-8")
    if results.get("training") or results.get("memory"):
        plot_training(results, out)
    if "step_time" in results:
        plot_steps(results["step_time"], out)
