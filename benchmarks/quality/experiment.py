"""What the quality experiment is made of: its variants, how every run is trained and
scored, and the profiles (model size, training budget and default runs)."""

from __future__ import annotations

from dataclasses import dataclass, replace

# ea-mt train options of each variant; None marks the vanilla architecture.
VARIANTS: dict[str, tuple[str, ...] | None] = {
    "ea": (),
    "vanilla": None,
    "ea-encoder-only": ("--ea-chains", "encoder"),
    "ea-decoder-only": ("--ea-chains", "decoder"),
    "alpha-only": ("--ea-beta", "0"),
}
MAIN_VARIANTS = ("ea", "vanilla")  # run at every seed; the others at the first seed
# The upgrade experiment (--upgrade-from): from a trained vanilla checkpoint, vanilla
# continued and EA warm-started (its convolutions fresh), optionally with a ramp of α, β.
UPGRADE_VARIANTS = ("continued", "warm-ea", "warm-ea-ramp")
SWEEP_KEYS = ("alpha", "beta")
# Decoding for the scores: beam 5, output length capped as in training's validation BLEU.
EVAL_ARGS = ("--beam", "5", "--max-len-a", "1.2", "--max-len-b", "10")
METRICS = ("bleu", "chrf")
# Validate and save on the update schedule only (--save-interval-updates), not per epoch.
UPDATE_SCHEDULE = ("--validate-interval", "1000000", "--save-interval", "1000000")


@dataclass(frozen=True)
class Profile:
    """A model size, training budget and default experiment."""

    name: str
    arch_pair: tuple[str, str]
    model_args: tuple[str, ...]  # raw fairseq options setting the size; --model-args replaces
    train_args: tuple[str, ...]  # ea-mt train options shared by every run
    max_update: int
    vocab_size: int
    patience: int | None = None  # stop after N validations without a better valid BLEU
    seeds: tuple[int, ...] = (1, 2)
    variants: tuple[str, ...] = MAIN_VARIANTS
    sweep: tuple[dict[str, tuple[float, ...]], ...] = ()  # grids; their points are joined
    subset: tuple[int, int, int] | None = None  # first lines of train, valid, test


# Multi30k (29k short pairs, ~250 updates of 2048 tokens per epoch). The shape is a
# small Transformer that two CPU cores can train twice per seed within a session:
# 128-dim, FFN 256, 4 heads, 3+3 layers, shared embeddings (ea-mt train's tiny preset
# otherwise: dropout 0.1, label smoothing 0.1, Adam, clipping at 1, no weight decay),
# lr 3e-3 inverse-sqrt with 300 warm-up updates. Measured on the 2-core EPYC with one
# thread per model: 2000 updates (8 epochs) take ~30 min per model with two side by side
# (~22 min alone) and reach ~37 BLEU on test2016 (EA), with validation BLEU still rising
# ~2 points per 500 updates: the default compares the models at an equal, fixed budget.
# ``--max-update 8000 --patience 3`` trains them to convergence instead (70–90 min per model
# side by side: the best validation came at 4000–5000 updates for EA, 5000–7500 for
# vanilla; BENCHMARKS.md).
# The 256-dim/1024-FFN shape took 2.4 s per update (~80 min per model at 2000 updates),
# too long for two seeds, three ablations and a sweep.
# Validation BLEU (beam 4) every 500 updates picks checkpoint_best.pt.
MULTI30K = Profile(
    name="multi30k",
    arch_pair=("ea_transformer_tiny", "transformer_tiny"),
    model_args=(
        "--encoder-embed-dim", "128", "--decoder-embed-dim", "128",
        "--encoder-ffn-embed-dim", "256", "--decoder-ffn-embed-dim", "256",
        "--encoder-attention-heads", "4", "--decoder-attention-heads", "4",
        "--encoder-layers", "3", "--decoder-layers", "3",
    ),
    train_args=(
        "--lr", "3e-3", "--warmup", "300", "--max-tokens", "2048", "--dropout", "0.1",
        "--save-interval-updates", "500", "--keep-last", "1",
    ),
    max_update=2000,
    vocab_size=8000,
)
# Tatoeba En–De, the whole training set (159k short pairs, mean 6.5 English words; ~670
# updates of 2048 tokens per epoch, 2481 validation pairs): the Multi30k model and
# optimizer, trained to convergence. Its 2000-update run (3 epochs) was still gaining
# (BENCHMARKS.md), and 5.5x the data takes more updates to converge: the cap is 40000
# updates (60 epochs). Validating 2481 sentences costs about as much as 60 updates, so
# validation and saving come every 1000 updates, and --patience 3 stops a run 3000
# updates (4.5 epochs) after its best.
TATOEBA = replace(
    MULTI30K,
    name="tatoeba",
    train_args=(
        "--lr", "3e-3", "--warmup", "300", "--max-tokens", "2048", "--dropout", "0.1",
        "--save-interval-updates", "1000", "--keep-last", "1",
    ),
    max_update=40000,
    patience=3,
)
# A smoke test of the whole pipeline in a few minutes; its scores mean nothing.
QUICK = Profile(
    name="quick",
    arch_pair=("ea_transformer_tiny", "transformer_tiny"),
    model_args=(),
    train_args=(
        "--lr", "2e-3", "--warmup", "50", "--max-tokens", "1024", "--dropout", "0.1",
        "--save-interval-updates", "50", "--keep-last", "1",
    ),
    max_update=100,
    vocab_size=1000,
    variants=tuple(VARIANTS),
    sweep=({"alpha": (0.3, 0.7)},),
    subset=(2000, 200, 200),
)

PROFILES = {profile.name: profile for profile in (MULTI30K, TATOEBA, QUICK)}
