"""report.md: the conditions of the experiment, then one table per figure."""

from __future__ import annotations

import shlex
from typing import Any

from benchmarks.common import markdown_table
from benchmarks.quality.experiment import (
    MAIN_VARIANTS,
    METRICS,
    UPDATE_SCHEDULE,
    UPGRADE_VARIANTS,
)
from benchmarks.quality.stats import SIGNIFICANT, delta, significance
from benchmarks.quality.training_log import CONVERGENCE_WINDOW
from ea_mt.models.config import DEFAULT_ALPHA, DEFAULT_BETA


def markdown(report: dict[str, Any], plotted: bool, curves_plotted: bool) -> str:
    """The Markdown report."""
    parts = [header(report), runs_table(report["runs"])]
    if report.get("upgrade"):
        parts.append(upgrade_table(report["upgrade"], report["runs"]))
    if report["pairs"]:
        parts.append(pairs_table(report["pairs"]))
    if "delta" in report["means"]:
        parts.append(means_table(report["means"]))
    if report["sweep"]:
        parts.append(sweep_table(report["sweep"]))
    if plotted:
        parts.append("![Test BLEU per seed, EA vs vanilla](bleu_per_seed.png)\n")
    parts.append(convergence_table(report["runs"]))
    if curves_plotted:
        parts.append("![Validation BLEU during training](valid_curves.png)\n")
    return "\n".join(parts)


def header(report: dict[str, Any]) -> str:
    """Title and the conditions of the experiment."""
    data, profile, host = report["data"], report["profile"], report["machine"]
    pairs = ", ".join(f"{split} {count}" for split, count in data["pairs"].items())
    subset = f" (first {'/'.join(map(str, data['subset_lines']))} lines)" \
        if data["subset_lines"] else ""
    signatures = report["runs"][0]["scores"]["valid"]["signatures"]
    ea, vanilla = profile["arch_pair"]
    versions = ", ".join(f"{k} {v}" for k, v in host["versions"].items())
    size = f"`{shlex.join(profile['model_args'])}`" if profile["model_args"] else "the arch's"
    patience = f" --patience {profile['patience']}" if profile.get("patience") else ""
    return "\n".join([
        f"# EA vs vanilla Transformer: quality on {data['name']} "
        f"({data['src']}→{data['tgt']})",
        "",
        f"- command: `{report['command']}`",
        f"- date: {report['date']}; wall time of this invocation {report['wall_minutes']} "
        "min (runs trained by an earlier one are reused: their training time is in the "
        "table); load average "
        f"at start/end {host['load_average_start']} / {host['load_average_end']}",
        f"- machine: {host['cpu']}, {host['cores']} cores; {profile['threads']} thread(s) per "
        f"model, {profile['jobs']} run(s) at a time; Python {host['python']}, {versions}",
        f"- data: {', '.join(data['files'].values())}{subset}; pairs after `ea-mt prepare`: "
        f"{pairs}; joint SentencePiece vocabulary {data['vocab_size']}",
        f"- profile: {profile['name']}" + (" (a smoke test of the pipeline: its scores mean "
                                           "nothing)" if profile["name"] == "quick" else ""),
        f"- models: `{ea}` vs `{vanilla}`, size: {size}; `ea-mt train "
        f"{shlex.join(profile['train_args'])}{patience} --max-update {profile['max_update']} -- "
        f"{shlex.join(UPDATE_SCHEDULE)}`",
        f"- scores: `ea-mt evaluate` of checkpoint_best.pt (picked by validation BLEU, beam 4, "
        f"during training), `{shlex.join(profile['eval_args'])}`; BLEU `{signatures['bleu']}`, "
        f"chrF `{signatures['chrf']}`; paired bootstrap: `ea-mt score --baseline` "
        "(sacreBLEU's, 1000 resamples, seed 12345)",
        *kept_line(report),
        "",
    ])


def kept_line(report: dict[str, Any]) -> list[str]:
    """Where the evidence lies: the translations kept with the report, the references."""
    references = report.get("references")
    if not references:
        return []
    listed = ", ".join(f"{split} `{ref['path']}` ({ref['lines']} lines, SHA-256 "
                       f"{ref['sha256'][:12]}…)" for split, ref in references.items())
    return [f"- translations: every evaluated run's, in `hyps/RUN.SPLIT.hyp` "
            f"(`python -m benchmarks.summary` recomputes the paired statistics from them); "
            f"references: {listed}"]


def runs_table(runs: list[dict[str, Any]]) -> str:
    """Per run: settings, training and scores."""
    rows = []
    for record in runs:
        run, scores = record["run"], record["scores"]
        minutes = f"{record['train_seconds'] / 60:.1f}"
        rows.append([
            run["name"], f"`{run['arch']}`", run["seed"], fmt(run["alpha"]), fmt(run["beta"]),
            chains(run), record["updates"], f"{record['epochs']:.1f}",
            ("≥ " if record["train_seconds_partial"] else "") + minutes,
            fmt(record["best_valid_bleu"]),
            *(fmt(scores.get(split, {}).get(m)) for split in ("valid", "test") for m in METRICS),
        ])
    return "## Runs\n\n" + markdown_table(
        ["run", "architecture", "seed", "α", "β", "EA chains", "updates", "epochs",
         "train min", "best valid BLEU (training)", "valid BLEU", "valid chrF", "test BLEU",
         "test chrF"], rows) + "\n" + length_note(runs)


def upgrade_table(upgrade: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    """The upgrade experiment: each run's test scores against the starting checkpoint's,
    and the EA runs' against vanilla continued at their seed."""
    start = upgrade["start"]["scores"]["test"]
    blank = [""] * 2 * len(METRICS)
    rows = [["start", "–", "–", *(fmt(start[m]) for m in METRICS), *blank]]
    for record in runs:
        run = record["run"]
        row: list[object] = [run["name"], record["updates"],
                             record["convergence"]["stopped"] or "–",
                             *(fmt(record["scores"]["test"][m]) for m in METRICS)]
        for against in ("start", "continued"):
            pair = next((p for p in upgrade["pairs"] if p["run"] == run["name"]
                         and (p["against"] == "start") == (against == "start")), None)
            row += ["–" if pair is None else
                    f"{delta(pair, m):+.2f} ({significance(pair, m)['p_value']:.3f})"
                    for m in METRICS]
        rows.append(row)
    ramp = (f"; the ramp: `--ea-ramp-updates {upgrade['ramp_updates']}`"
            if upgrade.get("ramp_updates") else "")
    return ("## Upgrading a trained model, test set\n\n"
            f"Start: `{upgrade['start']['checkpoint']}`. Each run trains from it with "
            "`--finetune-from-model` (fresh optimizer and learning-rate schedule; EA's "
            f"convolutions fresh){ramp}; Δ with its paired bootstrap p-value.\n\n"
            + markdown_table(["run", "further updates", "stopped", "test BLEU", "test chrF",
                              "ΔBLEU vs start (p)", "ΔchrF vs start (p)",
                              "ΔBLEU vs continued (p)", "ΔchrF vs continued (p)"], rows)
            + "\n")


def length_note(runs: list[dict[str, Any]]) -> str:
    """How many translations the length limit cut, if any."""
    cut = {f"{record['run']['name']} {split}": scores["max_length_lines"]
           for record in runs for split, scores in record["scores"].items()
           if scores["max_length_lines"]}
    if not cut:
        return ""
    listed = ", ".join(f"{name} {count}" for name, count in cut.items())
    return f"\nTranslations stopped at the length limit: {listed}.\n"


def chains(run: dict[str, Any]) -> str:
    """The evolving chains of a run, from its ea-mt train options."""
    if run["alpha"] is None:
        return "–"
    options = dict(zip(run["ea_args"][::2], run["ea_args"][1::2], strict=True))
    return options.get("--ea-chains", "all")


def pairs_table(pairs: list[dict[str, Any]]) -> str:
    """Each EA-family run against the vanilla run of its seed, on test."""
    rows = []
    for pair in pairs:
        row: list[object] = [pair["run"], pair["seed"]]
        for metric in METRICS:
            test = significance(pair, metric)
            star = "*" if test["p_value"] < SIGNIFICANT else ""
            row += [fmt(test["score"]), fmt(test["baseline_score"]),
                    f"{delta(pair, metric):+.2f}", f"{test['p_value']:.4f}{star}"]
        rows.append(row)
    return "## Against vanilla, test set (paired bootstrap)\n\n" + markdown_table(
        ["run", "seed", "BLEU", "vanilla BLEU", "ΔBLEU", "p", "chrF", "vanilla chrF", "ΔchrF",
         "p"], rows) + f"\n\n\\* p < {SIGNIFICANT}: the difference from vanilla is significant.\n"


def means_table(means: dict[str, Any]) -> str:
    """EA and vanilla averaged over seeds."""
    labels = {"ea": "EA", "vanilla": "vanilla", "delta": "EA − vanilla"}
    rows = [[labels[key], means[key]["bleu"]["n"],
             *(mean_text(means[key][m], signed=key == "delta") for m in METRICS)]
            for key in labels if key in means]
    return "## Mean over seeds, test set\n\n" + markdown_table(
        ["system", "seeds", "BLEU (mean ± sd)", "chrF (mean ± sd)"], rows
    ) + (f"\n\nEA is better with p < {SIGNIFICANT} (BLEU) at {means['significant_wins']} of "
         f"{means['seeds']} seeds.\n")


def sweep_table(sweep: dict[str, Any]) -> str:
    """Validation BLEU over the grid, and the suggested defaults."""
    alphas = sorted({p["alpha"] for p in sweep["points"]})
    betas = sorted({p["beta"] for p in sweep["points"]})
    cell = {(p["alpha"], p["beta"]): p for p in sweep["points"]}
    rows = [[f"α = {a:g}", *(sweep_cell(cell[a, b]) if (a, b) in cell else "–"
                             for b in betas)] for a in alphas]
    return ("## α/β sweep, validation set only\n\nValid BLEU (`ea-mt evaluate`), the mean "
            "over the point's seeds, each seed's in brackets; the test set is not used.\n\n"
            + markdown_table(["", *(f"β = {b:g}" for b in betas)], rows)
            + f"\n\n{sweep_advice(sweep)}\n")


def sweep_cell(point: dict[str, Any]) -> str:
    """A grid cell: the mean validation BLEU, and every seed's where there are several."""
    per_seed = point["valid_bleu_per_seed"]
    seeds = f" ({', '.join(fmt(bleu) for bleu in per_seed)})" if len(per_seed) > 1 else ""
    return fmt(point["valid_bleu"]) + seeds


def sweep_advice(sweep: dict[str, Any]) -> str:
    """The best point, weighed against the defaults and the seed-to-seed spread of EA."""
    best, default, spread = sweep["best"], sweep["default"], sweep.get("seed_spread")
    advice = (f"Best point: α = {best['alpha']:g}, β = {best['beta']:g} "
              f"(valid BLEU {best['valid_bleu']:.2f})")
    if default is None or best is default:
        return advice + "."
    gain = best["valid_bleu"] - default["valid_bleu"]
    advice += (f", {gain:+.2f} over the defaults α = {DEFAULT_ALPHA:g}, β = {DEFAULT_BETA:g} "
               f"({default['valid_bleu']:.2f})")
    if spread is None:
        return (advice + "; with EA at one seed there is no seed-to-seed spread to weigh that "
                "against (--seeds 1,2 measures it).")
    verdict = "within" if gain <= spread else "more than"
    return advice + f", {verdict} the seed-to-seed spread of the defaults ({spread:.2f})."


def convergence_table(runs: list[dict[str, Any]]) -> str:
    """How each run ended, and the validation curves of the EA and vanilla runs."""
    window = CONVERGENCE_WINDOW
    rows = [[r["run"]["name"], r["updates"], r["convergence"]["stopped"] or "–",
             r["convergence"]["best_at"] or "–",
             "–" if r["convergence"]["gain"] is None else f"{r['convergence']['gain']:+.2f}"]
            for r in runs]
    text = ("## Convergence\n\nValidation BLEU during training (beam 4, every validation); "
            "*stopped*: on `--patience` or at `--max-update`.\n\n"
            + markdown_table(["run", "updates", "stopped", "best at update",
                              f"best gain over the last {window} updates"], rows) + "\n")
    main = [r for r in runs if r["run"]["variant"] in (*MAIN_VARIANTS, *UPGRADE_VARIANTS)]
    points = sorted({u for r in main for u, _ in r["convergence"]["curve"]})
    bleu = {r["run"]["name"]: dict(r["convergence"]["curve"]) for r in main}
    curve_rows = [[u, *(fmt(bleu[name].get(u)) for name in bleu)] for u in points]
    if curve_rows:
        text += "\n" + markdown_table(["update", *bleu], curve_rows) + "\n"
    return text


def fmt(value: float | None) -> str:
    """A score with two decimals; – when absent."""
    return "–" if value is None else f"{value:.2f}"


def mean_text(stats: dict[str, float | None], signed: bool = False) -> str:
    """``mean ± sd`` (``mean`` for one seed); ``signed``: with the sign of a difference."""
    mean, sd = stats["mean"], stats["sd"]
    text = f"{mean:+.2f}" if signed else fmt(mean)
    return text + ("" if sd is None else f" ± {sd:.2f}")
