"""results.md and profile-PRESET-LENGTH.md: how the run was made, one table per measurement."""

from __future__ import annotations

from benchmarks.common import markdown_table
from benchmarks.speed.settings import Results
from benchmarks.speed.stats import STEP_RATIO_WINDOW


def training_markdown(rows: list[Results]) -> str:
    """Training throughput per preset and length."""
    return markdown_table(
        ["preset", "length", "sentences × length", "EA tok/s", "vanilla tok/s",
         "EA/vanilla (median)", "min–max"],
        [[r["preset"], str(r["length"]), f"{r['sentences']} × {r['length']}",
          f"{r['ea_tokens_per_s']:.0f}", f"{r['vanilla_tokens_per_s']:.0f}",
          f"**{r['ratio']:.2f}**", f"{r['ratio_min']:.2f}–{r['ratio_max']:.2f}"] for r in rows],
    )


def memory_markdown(rows: list[Results]) -> str:
    """Training memory per preset and length."""
    return markdown_table(
        ["preset", "length", "EA MB", "vanilla MB", "EA/vanilla", "EA activations MB (est.)",
         "vanilla activations MB (est.)", "activations EA/vanilla"],
        [[r["preset"], str(r["length"]), f"{r['ea_growth_mb']:.0f}",
          f"{r['vanilla_growth_mb']:.0f}", f"**{r['ratio']:.2f}**",
          f"{r['ea_activations_mb']:.0f}", f"{r['vanilla_activations_mb']:.0f}",
          f"{r['activations_ratio']:.2f}"] for r in rows],
    )


def decoding_markdown(decoding: Results) -> str:
    """Decoding speed per preset, or why it was skipped."""
    if "skipped" in decoding:
        return decoding["skipped"]
    return markdown_table(
        ["preset", "sentences", "EA sent/s", "vanilla sent/s", "EA tok/s", "vanilla tok/s",
         "EA/vanilla (median of batches)", "EA/vanilla (total time)"],
        [[r["preset"], str(r["sentences"]), f"{r['ea_sentences_per_s']:.1f}",
          f"{r['vanilla_sentences_per_s']:.1f}", f"{r['ea_tokens_per_s']:.0f}",
          f"{r['vanilla_tokens_per_s']:.0f}", f"**{r['ratio']:.2f}**",
          f"{r['ratio_total']:.2f}"] for r in decoding["rows"]],
    )


def steps_markdown(steps: Results) -> str:
    """Step time at a few positions, and the line fits."""
    ratios = markdown_table(
        ["position", "EA ms", "vanilla ms", "EA/vanilla speed"],
        [[str(r["position"]), f"{r['ea_ms']:.2f}", f"{r['vanilla_ms']:.2f}",
          f"**{r['ratio']:.2f}**"] for r in steps["ratios_at"]],
    )
    fits = markdown_table(
        ["model", "intercept ms", "slope ms/position", "R²", "slope 1st half", "slope 2nd half"],
        [[name, f"{f['intercept_ms']:.2f}", f"{f['slope_ms_per_position']:.4f}",
          f"{f['r2']:.3f}", f"{f['slope_first_half']:.4f}", f"{f['slope_second_half']:.4f}"]
         for name, f in (("EA", steps["ea_fit"]), ("vanilla", steps["vanilla_fit"]))],
    )
    return (f"{steps['preset']}, {steps['rows']} rows (batch × beam), source length "
            f"{steps['source_len']}, median of {steps['repeats']} passes; ratios are medians "
            f"of the {STEP_RATIO_WINDOW} steps up to the position.\n\n{ratios}\n\n"
            f"Linear fit of step time against positions 2..{len(steps['ea_ms'])} (the first "
            f"step also projects the encoder output for the cross-attention):\n\n{fits}")


def targets_markdown(checks: list[Results]) -> str:
    """Issue #4's targets: each figure, its bound and whether it is met."""
    if not checks:
        return "No target applies to the figures of this run."
    return markdown_table(
        ["target", "EA/vanilla", "bound", "met"],
        [[c["target"], f"{c['value']:.2f}", c["bound"], "yes" if c["met"] else "**no**"]
         for c in checks])


def results_markdown(results: Results) -> str:
    """The whole run as Markdown: how it was run, then one table per measurement."""
    meta = results["meta"]
    parts = [
        "# EA vs vanilla: speed and memory",
        "",
        f"- command: `{meta['command']}`",
        f"- date: {meta['date']}; wall time {meta.get('wall_s', 0) / 60:.1f} min; load "
        f"average at start/end {meta['load_start']} / {meta.get('load_end')}",
        f"- machine: {meta['machine']}; device {meta['device']}, {meta['dtype']}, "
        f"{meta['threads']} torch threads",
        f"- versions: Python {meta['python']}, torch {meta['torch']}, fairseq {meta['fairseq']}, "
        f"ea-mt {meta['ea_mt']}",
    ]
    sections = (("Targets", "targets", targets_markdown),
                ("Training throughput", "training", training_markdown),
                ("Training memory", "memory", memory_markdown),
                ("Decoding", "decoding", decoding_markdown),
                ("Per-step decoding time", "step_time", steps_markdown))
    for title, key, render in sections:
        if key in results:
            parts += ["", f"## {title}", "", render(results[key])]
    return "\n".join(parts) + "\n"


def profile_summary(profile: Results) -> str:
    """Self time per step of the ops only EA runs, only vanilla runs, and both run."""
    ea, vanilla = profile["ea_self_ms"], profile["vanilla_self_ms"]
    only_ea = sum(ms for op, ms in ea.items() if op not in vanilla)
    only_vanilla = sum(ms for op, ms in vanilla.items() if op not in ea)
    both = sum(ea[op] - vanilla[op] for op in ea.keys() & vanilla.keys())
    return (f"Total self time per step: EA {sum(ea.values()):.1f} ms, vanilla "
            f"{sum(vanilla.values()):.1f} ms. Ops only EA runs: {only_ea:.1f} ms; ops only "
            f"vanilla runs: {only_vanilla:.1f} ms; ops both run: EA {both:+.1f} ms. Where the "
            "calls per step are equal, both do the same work and the difference is noise.")


def profile_markdown(profile: Results, top: int = 20) -> str:
    """The ops where EA spends more (and less) self time than vanilla, and both raw tables."""
    ea, vanilla = profile["ea_self_ms"], profile["vanilla_self_ms"]
    ea_calls, vanilla_calls = profile["ea_calls"], profile["vanilla_calls"]
    excess = {op: ea.get(op, 0.0) - vanilla.get(op, 0.0) for op in ea.keys() | vanilla.keys()}
    total_excess = sum(excess.values())
    ranked = sorted(excess, key=excess.get, reverse=True)
    lines = [
        f"# Profile: {profile['preset']}/{profile['length']}, training step "
        f"({profile['steps']} profiled steps each, {profile['time']})",
        "",
        f"Step with profiler: EA {profile['ea_step_s']:.3f} s, vanilla "
        f"{profile['vanilla_step_s']:.3f} s. {profile_summary(profile)}",
        "",
    ]
    shown = ranked[:top] + [op for op in ranked[-top // 2:] if excess[op] < 0]
    rows = [[f"`{op}`", f"{ea.get(op, 0.0):.1f}", f"{vanilla.get(op, 0.0):.1f}",
             f"{excess[op]:+.1f}", f"{excess[op] / total_excess if total_excess else 0.0:+.0%}",
             f"{ea_calls.get(op, 0):.0f}", f"{vanilla_calls.get(op, 0):.0f}"]
            for op in dict.fromkeys(shown)]
    lines.append(markdown_table(
        ["op", "EA ms/step", "vanilla ms/step", "EA − vanilla ms", "share of excess",
         "calls/step EA", "calls/step vanilla"], rows, right_from=1))
    for name, table in (("EA", profile["ea_table"]), ("vanilla", profile["vanilla_table"])):
        lines += ["", f"## {name}: top ops by self time (last profiled step)", "", "```",
                  table, "```"]
    return "\n".join(lines) + "\n"
