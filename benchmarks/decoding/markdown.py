"""results.md: the run's conditions, issue 14's targets, and one table per configuration."""

from __future__ import annotations

from typing import Any

from benchmarks.common import markdown_table
from benchmarks.decoding.systems import BASELINE

HOW = """\
- tokens: SentencePiece pieces of each sentence's best hypothesis, EOS excluded, counted
  on each system's own output; tok/s and sent/s over the mean time of a round; p50: the
  median over batches and rounds of a batch's time divided by its sentences
- timing: the systems take turns batch by batch on the same batches (sorted by source
  length, longest first), the first system moving on by one each batch; one warm-up batch
  each; conversion to tensors or piece lists is outside the timed part
- peak MB: resident memory (VmHWM) of the system alone in a fresh process decoding the
  source once, peak restarted after loading; (+N): growth over the loaded process
- identical %: lines whose best hypothesis has the same pieces as fairseq
  SequenceGenerator's on the same model
- ×CT2: the figure over CTranslate2 fp32's on the vanilla model (tok/s, sent/s: > 1 is
  faster; p50, peak: < 1 is faster, smaller)"""


def number(value: float | None, digits: int = 0, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def system_row(label: str, figures: dict[str, Any]) -> list[str]:
    if not figures["available"]:
        return [label, "not available"] + ["–"] * 10
    memory = figures.get("memory")
    ratio = figures.get("vs_baseline", {})
    identical = (f"{100 * figures['identical']:.1f} (vs {figures['identical_to']})"
                 if "identical" in figures else "–")
    return [
        label,
        number(figures["tokens_per_s"]),
        number(figures["sentences_per_s"], 1),
        number(figures["p50_latency_ms"], 2),
        f"{memory['peak_mb']:.0f} (+{memory['growth_mb']:.0f})" if memory else "–",
        number(figures.get("bleu"), 2),
        identical,
        *(number(ratio.get(metric), 2, "×") for metric in
          ("tokens_per_s", "sentences_per_s", "p50_latency_ms", "peak_mb")),
        str(figures["tokens"]),
    ]


def run_table(run: dict[str, Any], labels: dict[str, str]) -> str:
    rows = [system_row(labels[key], figures) for key, figures in run["systems"].items()]
    headers = ["system", "tok/s", "sent/s", "p50 ms/sent", "peak MB (+growth)", "BLEU",
               "identical %", "tok/s ×CT2", "sent/s ×CT2", "p50 ×CT2", "peak ×CT2", "tokens"]
    return markdown_table(headers, rows, right_from=1)


def targets_table(targets: list[dict[str, Any]]) -> str:
    rows = [[t["target"], "–" if t["threads"] is None else t["threads"],
             number(t["ratio"], 2, "×"), f"{'≥' if t['at_least'] else '≤'} {t['bound']}",
             f"**{t['status']}**"] for t in targets]
    return markdown_table(["target (CPU, beam 5)", "threads", "measured", "bound", "status"],
                          rows)


def missing_systems(systems: list[dict[str, Any]]) -> list[str]:
    """Lines naming each system that did not run, and why."""
    missing = [f"- {s['label']}: {s['reason']}" for s in systems if not s["available"]]
    return ["Not available here:", "", *missing, ""] if missing else []


def results_markdown(results: dict[str, Any]) -> str:
    labels = {s["key"]: s["label"] for s in results["systems"]}
    versions = ", ".join(f"{name} {version}" for name, version in results["versions"].items())
    models = "; ".join(f"{name}: `{m['checkpoint']}` ({m['arch']})"
                       for name, m in results["models"].items())
    corpus = results["corpus"]
    memory_threads = results["settings"]["threads"][0]
    parts = [
        "# Decoding: ea-mt against fairseq and CTranslate2 (issue 14)", "",
        f"- command: `{results['command']}`",
        f"- machine: {results['machine']}; {results['started']} to "
        f"{results.get('finished', '(unfinished)')}; load average before "
        f"{results['load_before']}, after timing {results.get('load_after_timing', '–')}",
        f"- versions: {versions}",
        f"- models: {models}",
        f"- source: `{corpus['source']}`, {corpus['lines']} lines; reference: "
        f"`{corpus['reference']}`" if corpus["reference"] else
        f"- source: `{corpus['source']}`, {corpus['lines']} lines; no reference, no BLEU",
        f"- decoding: {results['decoding']}; {results['settings']['rounds']} round(s); "
        f"memory at {memory_threads} thread(s)",
        HOW, "",
        f"Ratios are against {labels[BASELINE]}.", "",
        *missing_systems(results["systems"]),
        "## Targets", "", targets_table(results["targets"]), "",
    ]
    for run in results["runs"]:
        parts += [f"## Beam {run['beam']}, batch {run['batch']}, {run['threads']} thread(s)", "",
                  run_table(run, labels), ""]
    parts += ["![tok/s and p50 latency against CTranslate2 fp32](ratios.png)", ""]
    return "\n".join(parts)
