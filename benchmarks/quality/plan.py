"""The runs of an experiment, and the ``ea-mt train`` options of each."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from benchmarks.quality.experiment import MAIN_VARIANTS, UPDATE_SCHEDULE, VARIANTS, Profile
from benchmarks.quality.options import Settings, Upgrade
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
    init: str | None = None  # the upgrade experiment: the checkpoint it starts from


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


def plan_upgrade(profile: Profile, upgrade: Upgrade) -> list[Run]:
    """The upgrade experiment at every seed: vanilla continued from the checkpoint, EA
    warm-started from it, and with ``upgrade.ramp_updates`` EA with α and β ramped."""
    ea_arch, vanilla_arch = profile.arch_pair
    init = str(upgrade.checkpoint)
    runs = []
    for seed in profile.seeds:
        both = ("valid", "test")
        runs.append(Run(f"continued-s{seed}", "continued", seed, vanilla_arch, (), None, None,
                        both, init))
        runs.append(Run(f"warm-ea-s{seed}", "warm-ea", seed, ea_arch, (), DEFAULT_ALPHA,
                        DEFAULT_BETA, both, init))
        if upgrade.ramp_updates:
            ramp = upgrade.ramp_updates
            runs.append(Run(f"warm-ea-ramp{ramp}-s{seed}", "warm-ea-ramp", seed, ea_arch,
                            ("--ea-ramp-updates", str(ramp)), DEFAULT_ALPHA, DEFAULT_BETA,
                            both, init))
    return runs


def train_args(run: Run, settings: Settings) -> list[str]:
    """``ea-mt train`` options that decide the model (no --max-update, threads or paths).

    An upgrade run starts from its checkpoint with fairseq's ``--finetune-from-model``:
    the weights are loaded (EA's convolutions stay fresh), and fairseq resets the
    optimizer, the learning-rate schedule (warm-up again), the update count, the meters and
    the data order, for the continued vanilla run as for the EA one. A copy of the
    checkpoint resumed instead would keep vanilla's Adam moments and its decayed learning
    rate, which the EA model (new parameters) cannot have: the two runs would differ in
    their schedule, not only in evolving attention. With a fresh start for both, each gets
    the same further updates under the same schedule (``--max-update`` counts from 0),
    and an interrupted run still resumes from its own checkpoint_last.pt (fairseq prefers
    it to ``--finetune-from-model``).
    """
    profile = settings.profile
    patience = ("--patience", str(profile.patience)) if profile.patience else ()
    init = ("--finetune-from-model", run.init) if run.init else ()
    return ["--arch", run.arch, "--seed", str(run.seed), *profile.train_args, *patience,
            *run.ea_args, "--", *profile.model_args, *UPDATE_SCHEDULE, *init]
