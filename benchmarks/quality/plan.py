"""The runs of an experiment, and the ``ea-mt train`` options of each."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from benchmarks.quality.experiment import MAIN_VARIANTS, UPDATE_SCHEDULE, VARIANTS, Profile
from benchmarks.quality.options import Settings
from ea_mt.models.config import DEFAULT_ALPHA, DEFAULT_BETA


@dataclass(frozen=True)
class Run:
    """One model to train and score."""

    name: str
    variant: str  # a key of VARIANTS, or "sweep"
    seed: int
    arch: str
    ea_args: tuple[str, ...]
    alpha: float | None  # effective EA weights (None for vanilla)
    beta: float | None
    splits: tuple[str, ...]  # evaluated sets: ("valid", "test") or, in the sweep, ("valid",)


def plan_runs(profile: Profile) -> list[Run]:
    """EA, vanilla and the sweep at every seed, ablations at the first; no name twice."""
    first = profile.seeds[0]
    runs = [variant_run(v, seed, profile) for seed in profile.seeds
            for v in MAIN_VARIANTS if v in profile.variants]
    runs += [variant_run(v, first, profile) for v in VARIANTS
             if v not in MAIN_VARIANTS and v in profile.variants]
    runs += [sweep_run(alpha, beta, seed, profile) for seed in profile.seeds
             for alpha, beta in sweep_grid(profile)]
    unique: dict[str, Run] = {}
    for run in runs:
        unique.setdefault(run.name, run)
    return list(unique.values())


def variant_run(variant: str, seed: int, profile: Profile) -> Run:
    """The run of one variant at one seed."""
    ea_args = VARIANTS[variant]
    ea_arch, vanilla_arch = profile.arch_pair
    if ea_args is None:
        return Run(f"{variant}-s{seed}", variant, seed, vanilla_arch, (), None, None,
                   ("valid", "test"))
    beta = 0.0 if variant == "alpha-only" else DEFAULT_BETA
    return Run(f"{variant}-s{seed}", variant, seed, ea_arch, ea_args, DEFAULT_ALPHA, beta,
               ("valid", "test"))


def sweep_grid(profile: Profile) -> list[tuple[float, float]]:
    """(α, β) points of the sweep's grids, each once; a key not swept stays at its default."""
    points: dict[tuple[float, float], None] = {}
    for grid in profile.sweep:
        alphas = grid.get("alpha", (DEFAULT_ALPHA,))
        betas = grid.get("beta", (DEFAULT_BETA,))
        points.update(dict.fromkeys(itertools.product(alphas, betas)))
    return list(points)


def sweep_run(alpha: float, beta: float, seed: int, profile: Profile) -> Run:
    """A sweep point, scored on the validation set only; at the defaults it is the EA run."""
    if (alpha, beta) == (DEFAULT_ALPHA, DEFAULT_BETA):
        return replace(variant_run("ea", seed, profile), splits=("valid",))
    return Run(f"sweep-a{alpha:g}-b{beta:g}-s{seed}", "sweep", seed, profile.arch_pair[0],
               ("--ea-alpha", f"{alpha:g}", "--ea-beta", f"{beta:g}"), alpha, beta, ("valid",))


def train_args(run: Run, settings: Settings) -> list[str]:
    """``ea-mt train`` options that decide the model (no --max-update, threads or paths)."""
    profile = settings.profile
    patience = ("--patience", str(profile.patience)) if profile.patience else ()
    return ["--arch", run.arch, "--seed", str(run.seed), *profile.train_args, *patience,
            *run.ea_args, "--", *profile.model_args, *UPDATE_SCHEDULE]
