"""What the summary reads: quality report folders (``report.json`` and the translations
kept in ``hyps/``), grouped into settings, and each setting's (EA, vanilla) pairs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, fail, log
from ea_mt.textio import read_lines

METRICS = ("bleu", "chrf")


@dataclass(frozen=True)
class Report:
    """One quality report folder."""

    folder: Path
    data: dict[str, Any]

    @property
    def runs(self) -> dict[str, dict[str, Any]]:
        """Each run's record by name."""
        return {record["run"]["name"]: record for record in self.data["runs"]}


@dataclass(frozen=True)
class SeedPair:
    """An EA run and the vanilla run it is weighed against, at one seed."""

    seed: int
    ea: str
    vanilla: str
    report: Report
    vanilla_report: Report

    def scores(self, metric: str) -> tuple[float, float]:
        """(EA, vanilla) test score."""
        return (self.report.runs[self.ea]["scores"]["test"][metric],
                self.vanilla_report.runs[self.vanilla]["scores"]["test"][metric])

    def p_value(self, metric: str) -> float | None:
        """The paired bootstrap p-value of the report (``ea-mt score --baseline``), if it
        tested this pair."""
        for pair in self.report.data.get("pairs", []):
            if pair["run"] == self.ea and self.report is self.vanilla_report \
                    and vanilla_of(self.report, pair["seed"]) == self.vanilla:
                score = next(s for s in pair["scores"] if metric_key(s["metric"]) == metric)
                return float(score["significance"]["p_value"])
        return None

    def hypotheses(self) -> tuple[Path | None, Path | None]:
        """(EA, vanilla) test translations: the report's copies, else the work directory's
        files where they still exist; None where neither does."""
        return (hyp_of(self.report, self.ea), hyp_of(self.vanilla_report, self.vanilla))

    def reference(self) -> Path | None:
        """The test reference the report recorded, where the file is found."""
        return reference_of(self.report, self.ea)


@dataclass(frozen=True)
class Setting:
    """A data set and direction, with its seeds' pairs."""

    name: str
    pairs: list[SeedPair] = field(default_factory=list)


def metric_key(name: str) -> str:
    """Our key for a sacreBLEU metric name: BLEU -> bleu, chrF2 -> chrf."""
    return name.lower().rstrip("+0123456789")


def read_report(folder: Path) -> Report:
    """``folder/report.json``; a one-line error if there is none."""
    path = folder / "report.json"
    if not path.is_file():
        fail(f"{folder}: no report.json (give quality report folders)")
    return Report(folder, json.loads(path.read_text(encoding="utf-8")))


def vanilla_of(report: Report, seed: int) -> str | None:
    """The vanilla run of ``seed`` in a report."""
    return next((r["run"]["name"] for r in report.data["runs"]
                 if r["run"]["variant"] == "vanilla" and r["run"]["seed"] == seed), None)


def setting_name(report: Report) -> str:
    """``NAME SRC→TGT`` of a report's data."""
    data = report.data["data"]
    return f"{data['name']} {data['src']}→{data['tgt']}"


def training_of(report: Report) -> tuple[Any, ...]:
    """What the models of a report were: architectures, size and training budget."""
    profile = report.data["profile"]
    return (tuple(profile["arch_pair"]), tuple(profile["model_args"]),
            tuple(profile["train_args"]), profile["max_update"], profile.get("patience"))


def budget(report: Report) -> str:
    """``--max-update N[, --patience P]``: how long a report's runs trained."""
    profile = report.data["profile"]
    patience = f", --patience {profile['patience']}" if profile.get("patience") else ""
    return f"--max-update {profile['max_update']}{patience}"


def settings_from_reports(folders: Sequence[Path]) -> list[Setting]:
    """The EA/vanilla pairs of every seed of each report, grouped by data set, direction
    and training (several reports of one setting, e.g. a later seed, join it); settings of
    one data set and direction trained differently are named with their budgets."""
    reports = [read_report(folder) for folder in folders]
    groups: dict[tuple[Any, ...], list[Report]] = {}
    for report in reports:
        groups.setdefault((setting_name(report), training_of(report)), []).append(report)
    names = [name for name, _ in groups]
    settings = []
    for (name, _), members in groups.items():
        label = f"{name} ({budget(members[0])})" if names.count(name) > 1 else name
        setting = Setting(label)
        for report in members:
            for record in report.data["runs"]:
                run = record["run"]
                vanilla = vanilla_of(report, run["seed"])
                if run["variant"] == "ea" and "test" in record["scores"] and vanilla:
                    add_pair(setting, SeedPair(run["seed"], run["name"], vanilla, report,
                                               report))
        if setting.pairs:
            settings.append(setting)
        else:
            log(f"{label}: no EA run with a vanilla run of its seed in "
                f"{', '.join(str(r.folder) for r in members)}; pair them in a --manifest")
    return settings


def settings_from_manifest(path: Path) -> list[Setting]:
    """The settings a manifest names (YAML or JSON)::

        settings:
          - name: Multi30k en→de
            reports: [benchmarks/results/quality-multi30k-converged, ...]
            pairs:            # optional; default: each seed's ea and vanilla runs
              - {seed: 1, ea: ea-s1, vanilla: vanilla-s1}

    Report folders are relative to the manifest's folder. A run name found in several of
    a setting's reports is ambiguous: give ``ea_report``/``vanilla_report`` (folders).
    """
    import yaml

    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        fail(f"{path}: cannot read the manifest ({error})")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("settings"), list):
        fail(f"{path}: expected a mapping with a list of 'settings'")
    settings = []
    for entry in manifest["settings"]:
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("reports"):
            fail(f"{path}: each setting needs a 'name' and a list of 'reports'")
        reports = [read_report(path.parent / folder) for folder in entry["reports"]]
        setting = Setting(entry["name"])
        if "pairs" not in entry:
            for grouped in settings_from_reports([r.folder for r in reports]):
                for pair in grouped.pairs:
                    add_pair(setting, pair)
            settings.append(setting)
            continue
        for pair in entry["pairs"]:
            ea = find_run(reports, pair.get("ea"), pair.get("ea_report"), path)
            vanilla = find_run(reports, pair.get("vanilla"), pair.get("vanilla_report"), path)
            seed = int(pair.get("seed", ea.runs[pair["ea"]]["run"]["seed"]))
            add_pair(setting, SeedPair(seed, pair["ea"], pair["vanilla"], ea, vanilla))
        settings.append(setting)
    return settings


def find_run(reports: list[Report], name: str | None, folder: str | None,
             manifest: Path) -> Report:
    """The one report of ``reports`` that holds run ``name``."""
    if not name:
        fail(f"{manifest}: each pair needs 'ea' and 'vanilla' run names")
    found = [r for r in reports if name in r.runs
             and (folder is None or r.folder.resolve() == (manifest.parent / folder).resolve())]
    if len(found) != 1:
        where = ", ".join(str(r.folder) for r in found) or "none of the setting's reports"
        fail(f"{manifest}: run {name!r} is in {where}; name its report folder")
    if "test" not in found[0].runs[name]["scores"]:
        fail(f"{manifest}: run {name!r} in {found[0].folder} has no test scores")
    return found[0]


def add_pair(setting: Setting, pair: SeedPair) -> None:
    """Add a seed's pair; a seed may appear once per setting."""
    if any(p.seed == pair.seed for p in setting.pairs):
        fail(f"{setting.name}: seed {pair.seed} appears twice ({pair.report.folder}); "
             "give each seed once, or use a manifest")
    setting.pairs.append(pair)
    setting.pairs.sort(key=lambda p: p.seed)


def hyp_of(report: Report, run: str) -> Path | None:
    """A run's test translations: the report's copy, else the original where it exists."""
    scores = report.runs[run]["scores"]["test"]
    kept = scores.get("kept_hyp")
    if kept and (report.folder / kept).is_file():
        return report.folder / kept
    original = Path(scores["hyp"])
    return original if original.is_file() else None


def reference_of(report: Report, run: str) -> Path | None:
    """The test reference: the report's record of it, else the path ``ea-mt score`` was
    given (relative to the repository, where the benchmark runs)."""
    recorded = report.data.get("references", {}).get("test")
    candidates = [recorded["path"], recorded["absolute"]] if recorded else []
    candidates += [ref for pair in report.data.get("pairs", []) for ref in pair.get("refs", [])]
    for candidate in candidates:
        path = Path(candidate) if Path(candidate).is_absolute() else REPO / candidate
        if path.is_file():
            return path
    return None


def read_text_lines(path: Path) -> list[str]:
    """A file's lines as sacrebleu reads them (trailing whitespace removed)."""
    return [line.rstrip() for line in read_lines(str(path))]
