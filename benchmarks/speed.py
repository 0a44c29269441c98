"""Speed and memory of EA vs vanilla fairseq Transformers of equal size (issue #4).

Both models of a comparison live in one process and run alternately (EA, vanilla,
vanilla, EA, …), so that load on a shared machine hits both alike; every ratio is the
median of per-step ratios, and a ratio > 1 means EA is faster (or, for memory, larger).

    python -m benchmarks.speed [--quick] [--out DIR] [--threads N] [--decode-input FILE]
    python -m benchmarks.speed --profile iwslt 64 [--out DIR]
    python -m benchmarks.speed --device cuda --dtype bf16

Writes results.json, results.md and PNG plots to --out (default
benchmarks/results/speed-<date>/); see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fairseq
import numpy as np
import torch
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss
from fairseq.data import Dictionary
from fairseq.data.data_utils import collate_tokens
from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY
from fairseq.sequence_generator import SequenceGenerator
from torch import Tensor, nn

import ea_mt

# fairseq's imports configure the root logger at DEBUG level; keep stderr readable.
logging.getLogger().setLevel(logging.WARNING)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DECODE_INPUT = REPO.parent / "shared" / "data" / "multi30k" / "test2016.en"
# Our preset names → fairseq's vanilla architectures; "ea_" + name is the EA twin.
ARCHS = {
    "tiny": "transformer_tiny",
    "iwslt": "transformer_iwslt_de_en",
    "big": "transformer_vaswani_wmt_en_de_big",
}
PAD, EOS, FIRST_WORD = 1, 2, 4  # fairseq's Dictionary: <s>, <pad>, </s>, <unk>, words…
LABEL_SMOOTHING = 0.1
STEP_SOURCE_LEN = 20  # source tokens per sentence in the per-step decoding timing
STEP_RATIO_AT = (32, 128, 256)
STEP_RATIO_WINDOW = 8  # positions averaged (median) for a ratio "at" a position
STEP_WARMUP = 16  # untimed decoding steps before the timed passes
PROFILE_STEPS = 3
MB = 2**20

Results = dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """What is measured and how; the quick grid is a smaller copy of the full one."""

    device: str = "cpu"
    dtype: str = "fp32"
    threads: int | None = None
    vocab: int = 8000
    presets: tuple[str, ...] = ("tiny", "iwslt", "big")
    lengths: tuple[int, ...] = (16, 64, 256)
    tokens: dict[str, int] = field(
        default_factory=lambda: {"tiny": 4096, "iwslt": 2048, "big": 512}
    )
    warmup: int = 1
    steps: dict[str, int] = field(default_factory=lambda: {"tiny": 10, "iwslt": 5, "big": 3})
    memory_steps: int = 2
    decode_input: Path | None = DEFAULT_DECODE_INPUT
    decode_presets: tuple[str, ...] = ("tiny", "iwslt")
    decode_len: int = 30
    decode_limit: int | None = None
    beam: int = 5
    decode_batch: int = 64
    step_preset: str = "iwslt"
    step_rows: int = 40
    step_positions: int = 256
    step_repeats: int = 2

    @property
    def device_type(self) -> str:
        return torch.device(self.device).type


QUICK = Settings(
    presets=("tiny", "iwslt"),
    lengths=(16, 64),
    tokens={"tiny": 2048, "iwslt": 512},
    steps={"tiny": 3, "iwslt": 3},
    decode_presets=("tiny",),
    decode_len=10,
    decode_limit=128,
    step_positions=32,
    step_repeats=1,
)


def log(message: str) -> None:
    """Progress on stderr, so that stdout stays machine-readable for the memory workers."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- models and batches --------------------------------------------------------------


def make_dictionary(size: int) -> Dictionary:
    """A joined dictionary of ``size`` symbols: fairseq's four specials, then made-up words."""
    dictionary = Dictionary()
    while len(dictionary) < size:
        dictionary.add_symbol(f"w{len(dictionary)}")
    return dictionary


def build_model(preset: str, ea: bool, dictionary: Dictionary, device: str) -> nn.Module:
    """The preset's EA or vanilla model, all embeddings shared, dropout as the preset has it."""
    arch = ("ea_" if ea else "") + ARCHS[preset]
    args = argparse.Namespace(arch=arch, share_all_embeddings=True)
    ARCH_CONFIG_REGISTRY[arch](args)
    task = SimpleNamespace(source_dictionary=dictionary, target_dictionary=dictionary)
    torch.manual_seed(0)
    return ARCH_MODEL_REGISTRY[arch].build_model(args, task).to(device)


def random_words(rows: int, length: int, vocab: int, generator: torch.Generator) -> Tensor:
    return torch.randint(FIRST_WORD, vocab, (rows, length), generator=generator)


def synthetic_batch(
    rows: int, length: int, vocab: int, device: str
) -> tuple[dict[str, Tensor], Tensor]:
    """Full-length random sentences (no padding): net_input for the model, and the target."""
    generator = torch.Generator().manual_seed(rows * 7919 + length)
    source = random_words(rows, length, vocab, generator)
    target = random_words(rows, length, vocab, generator)
    source[:, -1] = target[:, -1] = EOS
    previous = torch.cat([torch.full((rows, 1), EOS), target[:, :-1]], dim=1)
    net_input = {
        "src_tokens": source.to(device),
        "src_lengths": torch.full((rows,), length, device=device),
        "prev_output_tokens": previous.to(device),
    }
    return net_input, target.to(device)


def precision(settings: Settings) -> AbstractContextManager:
    """bf16 autocast when asked for, else plain fp32."""
    if settings.dtype == "fp32":
        return nullcontext()
    return torch.autocast(device_type=settings.device_type, dtype=torch.bfloat16)


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(work: Callable[[], object], device: str) -> float:
    """Seconds that ``work`` takes, device work included."""
    synchronize(device)
    start = time.perf_counter()
    work()
    synchronize(device)
    return time.perf_counter() - start


def interleave(count: int, run: Callable[[bool, int], float]) -> dict[bool, list[float]]:
    """Call ``run(ea, index)`` for index < count, EA and vanilla in A B B A … order."""
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for index in range(count):
        for ea in (True, False) if index % 2 == 0 else (False, True):
            seconds[ea].append(run(ea, index))
    return seconds


def speed_ratios(ea_seconds: list[float], vanilla_seconds: list[float]) -> dict[str, float]:
    """EA's speed relative to vanilla's, per paired step: median, min and max."""
    ratios = [v / e for e, v in zip(ea_seconds, vanilla_seconds, strict=True)]
    return {"ratio": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios)}


# --- training throughput ---------------------------------------------------------------


@dataclass
class TrainingRun:
    """One model, its Adam optimizer and a fixed synthetic batch, ready for training steps."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    net_input: dict[str, Tensor]
    target: Tensor
    settings: Settings

    @classmethod
    def build(cls, preset: str, ea: bool, length: int, settings: Settings) -> TrainingRun:
        model = build_model(preset, ea, make_dictionary(settings.vocab), settings.device)
        # Per-parameter updates (foreach=False), like fairseq's own Adam.
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98),
                                     foreach=False)
        rows = max(1, settings.tokens[preset] // length)
        net_input, target = synthetic_batch(rows, length, settings.vocab, settings.device)
        return cls(model.train(), optimizer, net_input, target, settings)

    def step(self) -> float:
        """One timed training step (forward, label-smoothed CE, backward, Adam); seconds."""
        return timed(self.train_step, self.settings.device)

    def train_step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with precision(self.settings):
            output = self.model(**self.net_input)
        lprobs = self.model.get_normalized_probs(output, log_probs=True)
        loss, _ = label_smoothed_nll_loss(lprobs.view(-1, lprobs.size(-1)),
                                          self.target.view(-1), LABEL_SMOOTHING,
                                          ignore_index=PAD)
        loss.backward()
        self.optimizer.step()


def measure_training(preset: str, length: int, settings: Settings) -> Results:
    """Target tokens/s of EA and vanilla training steps, alternated in one process."""
    runs = {ea: TrainingRun.build(preset, ea, length, settings) for ea in (True, False)}
    count = settings.warmup + settings.steps[preset]
    seconds = interleave(count, lambda ea, _: runs[ea].step())
    ea_s, vanilla_s = (seconds[ea][settings.warmup:] for ea in (True, False))
    tokens = runs[True].target.numel()
    return {
        "preset": preset,
        "length": length,
        "sentences": runs[True].target.size(0),
        "tokens": tokens,
        "timed_steps": len(ea_s),
        "ea_tokens_per_s": tokens / statistics.median(ea_s),
        "vanilla_tokens_per_s": tokens / statistics.median(vanilla_s),
        "ea_step_s": ea_s,
        "vanilla_step_s": vanilla_s,
        **speed_ratios(ea_s, vanilla_s),
    }


# --- training memory (one fresh process per model) --------------------------------------


def proc_status_bytes(name: str) -> int:
    """A memory figure of this process from Linux's /proc/self/status (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {name}")


def reset_peak(device: str) -> None:
    """Restart the peak-memory record from now (CPU: clear_refs resets VmHWM to VmRSS).

    VmHWM rather than ru_maxrss: the latter keeps the parent's peak across fork and exec.
    """
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return
    # Where this fails, the peak also covers model building, which stays far below training.
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def current_and_peak(device: str) -> tuple[int, int]:
    """Bytes in use now and at the peak: allocated on CUDA, resident (RSS) on CPU."""
    if torch.device(device).type == "cuda":
        return torch.cuda.memory_allocated(), torch.cuda.max_memory_allocated()
    return proc_status_bytes("VmRSS"), proc_status_bytes("VmHWM")


def memory_worker(spec: dict[str, Any]) -> Results:
    """In a fresh process: peak memory of training steps over the built model's baseline."""
    settings = replace(Settings(), device=spec["device"], dtype=spec["dtype"],
                       vocab=spec["vocab"], tokens={spec["preset"]: spec["tokens"]})
    run = TrainingRun.build(spec["preset"], spec["ea"], spec["length"], settings)
    baseline, _ = current_and_peak(settings.device)
    reset_peak(settings.device)
    for _ in range(spec["steps"]):  # the first step creates the gradients and Adam's state
        run.train_step()
    synchronize(settings.device)
    _, peak = current_and_peak(settings.device)
    params = sum(p.numel() for p in run.model.parameters())
    return {"baseline_mb": baseline / MB, "peak_mb": peak / MB,
            "growth_mb": (peak - baseline) / MB, "params": params}


def spawn_memory_worker(preset: str, length: int, ea: bool, settings: Settings) -> Results:
    spec = {"preset": preset, "length": length, "ea": ea, "device": settings.device,
            "dtype": settings.dtype, "vocab": settings.vocab,
            "tokens": settings.tokens[preset], "steps": settings.memory_steps,
            "threads": settings.threads}
    command = [sys.executable, str(Path(__file__).resolve()), "--memory-worker", json.dumps(spec)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory worker {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_memory(preset: str, length: int, settings: Settings) -> Results:
    """Peak training memory of EA and vanilla, each in its own fresh process."""
    ea, vanilla = (spawn_memory_worker(preset, length, e, settings) for e in (True, False))
    # Gradients and Adam's two moments: 3 fp32 copies of the parameters.
    state = {name: 3 * 4 * r["params"] / MB for name, r in (("ea", ea), ("vanilla", vanilla))}
    activations = {"ea": ea["growth_mb"] - state["ea"],
                   "vanilla": vanilla["growth_mb"] - state["vanilla"]}
    return {
        "preset": preset,
        "length": length,
        "ea_growth_mb": ea["growth_mb"],
        "vanilla_growth_mb": vanilla["growth_mb"],
        "ratio": ea["growth_mb"] / vanilla["growth_mb"],
        "ea_peak_mb": ea["peak_mb"],
        "vanilla_peak_mb": vanilla["peak_mb"],
        "ea_params": ea["params"],
        "vanilla_params": vanilla["params"],
        "ea_activations_mb": activations["ea"],
        "vanilla_activations_mb": activations["vanilla"],
        "activations_ratio": activations["ea"] / activations["vanilla"],
    }


# --- decoding speed ---------------------------------------------------------------------


def word_ids(line: str, vocab: int) -> Tensor:
    """Whitespace words hashed into the synthetic vocabulary, then </s>."""
    ids = [FIRST_WORD + zlib.crc32(word.encode()) % (vocab - FIRST_WORD) for word in line.split()]
    return torch.tensor([*ids, EOS])


def decode_batches(path: Path, settings: Settings) -> list[dict[str, Any]]:
    """The file's lines as fairseq samples: sorted by length, left-padded, in batches."""
    lines = path.read_text(encoding="utf-8").splitlines()[: settings.decode_limit]
    sentences = sorted((word_ids(line, settings.vocab) for line in lines), key=len)
    batches = []
    for start in range(0, len(sentences), settings.decode_batch):
        chunk = sentences[start:start + settings.decode_batch]
        net_input = {
            "src_tokens": collate_tokens(chunk, PAD, left_pad=True).to(settings.device),
            "src_lengths": torch.tensor([len(s) for s in chunk], device=settings.device),
        }
        batches.append({"net_input": net_input})
    return batches


def forced_length_generator(model: nn.Module, dictionary: Dictionary,
                            settings: Settings) -> SequenceGenerator:
    """Beam search whose every hypothesis has exactly ``decode_len`` tokens, then </s>."""
    return SequenceGenerator([model], dictionary, beam_size=settings.beam, max_len_a=0,
                             max_len_b=settings.decode_len, min_len=settings.decode_len)


def generate(generator: SequenceGenerator, sample: dict[str, Any], settings: Settings) -> float:
    """Decode one batch; check that the length was forced; seconds."""
    hypotheses: list = []
    models = generator.model.models
    with precision(settings):
        seconds = timed(lambda: hypotheses.extend(generator.generate(models, sample)),
                        settings.device)
    lengths = {len(beam[0]["tokens"]) for beam in hypotheses}
    if lengths != {settings.decode_len + 1}:
        raise RuntimeError(f"decoding was not forced to {settings.decode_len} tokens: {lengths}")
    return seconds


def measure_decoding(preset: str, path: Path, settings: Settings) -> Results:
    """Sentences/s and tokens/s of beam search, EA and vanilla alternated batch by batch."""
    dictionary = make_dictionary(settings.vocab)
    generators = {
        ea: forced_length_generator(
            build_model(preset, ea, dictionary, settings.device).eval(), dictionary, settings
        )
        for ea in (True, False)
    }
    batches = decode_batches(path, settings)
    for generator in generators.values():  # warm-up
        generate(generator, batches[0], settings)
    seconds = interleave(len(batches), lambda ea, i: generate(generators[ea], batches[i],
                                                              settings))
    sentences = sum(b["net_input"]["src_tokens"].size(0) for b in batches)
    tokens = sentences * (settings.decode_len + 1)
    ea_total, vanilla_total = sum(seconds[True]), sum(seconds[False])
    return {
        "preset": preset,
        "sentences": sentences,
        "batches": len(batches),
        "output_tokens": tokens,
        "ea_sentences_per_s": sentences / ea_total,
        "vanilla_sentences_per_s": sentences / vanilla_total,
        "ea_tokens_per_s": tokens / ea_total,
        "vanilla_tokens_per_s": tokens / vanilla_total,
        "ratio_total": vanilla_total / ea_total,
        **speed_ratios(seconds[True], seconds[False]),
    }


def measure_all_decoding(settings: Settings) -> Results:
    """Decoding for each decode preset, or the reason it was skipped."""
    path = settings.decode_input
    if path is None or not path.is_file():
        message = f"decoding skipped: no input file {path} (give one with --decode-input FILE)"
        log(message)
        return {"skipped": message}
    rows = []
    for preset in settings.decode_presets:
        log(f"decoding {preset}")
        rows.append(measure_decoding(preset, path, settings))
    return {"input": str(path), "rows": rows}


# --- per-step decoding time -----------------------------------------------------------


class DecodingSession:
    """Incremental decoding of random tokens, step by step as SequenceGenerator does it."""

    def __init__(self, model: nn.Module, source: Tensor, orders: Tensor, beam: int,
                 vocab: int) -> None:
        self.model, self.orders = model, orders
        rows = source.size(0) * beam
        lengths = torch.full((source.size(0),), source.size(1), device=source.device)
        expand = torch.arange(source.size(0), device=source.device).repeat_interleave(beam)
        self.encoder_out = model.encoder.reorder_encoder_out(model.encoder(source, lengths),
                                                             expand)
        generator = torch.Generator().manual_seed(1)
        self.tokens = random_words(rows, orders.size(0), vocab, generator).to(source.device)
        self.tokens[:, 0] = EOS
        self.state: dict[str, dict[str, Tensor | None]] = {}

    def step(self, position: int) -> None:
        """Reorder the beams (after the first step), then one decoder step and its log-probs."""
        if position > 0:
            order = self.orders[position]
            self.model.decoder.reorder_incremental_state_scripting(self.state, order)
            self.encoder_out = self.model.encoder.reorder_encoder_out(self.encoder_out, order)
        features, extra = self.model.decoder(self.tokens[:, :position + 1],
                                             encoder_out=self.encoder_out,
                                             incremental_state=self.state)
        self.model.get_normalized_probs((features[:, -1:, :], extra), log_probs=True)


def beam_orders(sentences: int, beam: int, positions: int, device: str) -> Tensor:
    """Random beam reorderings within each sentence, one per step: (positions, rows)."""
    generator = torch.Generator().manual_seed(2)
    base = (torch.arange(sentences) * beam).repeat_interleave(beam)
    return (base + torch.randint(0, beam, (positions, sentences * beam),
                                 generator=generator)).to(device)


def fit_line(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Least-squares line y = a + b·x, with R²."""
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + slope * x)
    r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    return {"slope_ms_per_position": float(slope), "intercept_ms": float(intercept), "r2": r2}


def step_fit(ms: list[float]) -> dict[str, float]:
    """Line through positions 2.., and the slopes of each half (equal when linear).

    Position 1 is left out: its step also projects the encoder output into every
    cross-attention's keys and values.
    """
    y = np.asarray(ms[1:])
    x = np.arange(2, len(ms) + 1, dtype=float)
    half = len(y) // 2
    return {
        **fit_line(x, y),
        "slope_first_half": fit_line(x[:half], y[:half])["slope_ms_per_position"],
        "slope_second_half": fit_line(x[half:], y[half:])["slope_ms_per_position"],
    }


def time_positions(models: dict[bool, nn.Module], source: Tensor, orders: Tensor,
                   settings: Settings) -> dict[bool, list[float]]:
    """One pass over all positions of ``orders`` for EA and vanilla, alternated; seconds."""
    sessions = {ea: DecodingSession(m, source, orders, settings.beam, settings.vocab)
                for ea, m in models.items()}
    return interleave(orders.size(0), lambda ea, position: timed(
        lambda: sessions[ea].step(position), settings.device))


def measure_step_times(settings: Settings) -> Results:
    """Time of one incremental decoding step at target positions 1..step_positions."""
    dictionary = make_dictionary(settings.vocab)
    models = {ea: build_model(settings.step_preset, ea, dictionary, settings.device).eval()
              for ea in (True, False)}
    sentences = settings.step_rows // settings.beam
    source = random_words(sentences, STEP_SOURCE_LEN, settings.vocab,
                          torch.Generator().manual_seed(3)).to(settings.device)
    source[:, -1] = EOS
    orders = beam_orders(sentences, settings.beam, settings.step_positions, settings.device)
    passes = []
    with torch.inference_mode(), precision(settings):
        time_positions(models, source, orders[:STEP_WARMUP], settings)
        for _ in range(settings.step_repeats):
            passes.append(time_positions(models, source, orders, settings))
    ms = {ea: [1000 * statistics.median(p[ea][i] for p in passes)
               for i in range(settings.step_positions)] for ea in (True, False)}
    return {
        "preset": settings.step_preset,
        "rows": sentences * settings.beam,
        "source_len": STEP_SOURCE_LEN,
        "repeats": settings.step_repeats,
        "ea_ms": ms[True],
        "vanilla_ms": ms[False],
        "ea_fit": step_fit(ms[True]),
        "vanilla_fit": step_fit(ms[False]),
        "ratios_at": step_ratios_at(ms[True], ms[False]),
    }


def step_ratios_at(ea_ms: list[float], vanilla_ms: list[float]) -> list[Results]:
    """Speed ratio around positions 32/128/256: medians of the STEP_RATIO_WINDOW steps up to it."""
    rows = []
    for position in (p for p in STEP_RATIO_AT if p <= len(ea_ms)):
        window = slice(max(0, position - STEP_RATIO_WINDOW), position)
        ea, vanilla = statistics.median(ea_ms[window]), statistics.median(vanilla_ms[window])
        rows.append({"position": position, "ea_ms": ea, "vanilla_ms": vanilla,
                     "ratio": vanilla / ea})
    return rows


# --- profile -----------------------------------------------------------------------


def profiled_step(run: TrainingRun, settings: Settings) -> tuple[float, Any]:
    """One training step under torch.profiler; seconds and the profiler's op averages."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if settings.device_type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        seconds = run.step()
    return seconds, profiler.key_averages()


def profile_training(preset: str, length: int, settings: Settings) -> Results:
    """Self time and calls per op and training step for EA and vanilla, steps alternated."""
    runs = {ea: TrainingRun.build(preset, ea, length, settings) for ea in (True, False)}
    for run in runs.values():
        run.step()  # warm-up
    self_ms: dict[bool, Counter] = {True: Counter(), False: Counter()}
    calls: dict[bool, Counter] = {True: Counter(), False: Counter()}
    tables: dict[bool, str] = {}
    sort_by = "self_device_time_total" if settings.device_type == "cuda" else "self_cpu_time_total"

    def run_one(ea: bool, index: int) -> float:
        seconds, events = profiled_step(runs[ea], settings)
        for event in events:
            self_ms[ea][event.key] += getattr(event, sort_by) / 1000 / PROFILE_STEPS
            calls[ea][event.key] += event.count / PROFILE_STEPS
        if index == PROFILE_STEPS - 1:
            tables[ea] = events.table(sort_by=sort_by, row_limit=25)
        return seconds

    seconds = interleave(PROFILE_STEPS, run_one)
    return {"preset": preset, "length": length, "steps": PROFILE_STEPS, "time": sort_by,
            "ea_step_s": statistics.median(seconds[True]),
            "vanilla_step_s": statistics.median(seconds[False]),
            "ea_self_ms": dict(self_ms[True]), "vanilla_self_ms": dict(self_ms[False]),
            "ea_calls": dict(calls[True]), "vanilla_calls": dict(calls[False]),
            "ea_table": tables[True], "vanilla_table": tables[False]}


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
        "| op | EA ms/step | vanilla ms/step | EA − vanilla ms | share of excess "
        "| calls/step EA | calls/step vanilla |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    shown = ranked[:top] + [op for op in ranked[-top // 2:] if excess[op] < 0]
    for op in dict.fromkeys(shown):
        share = excess[op] / total_excess if total_excess else 0.0
        lines.append(f"| `{op}` | {ea.get(op, 0.0):.1f} | {vanilla.get(op, 0.0):.1f} | "
                     f"{excess[op]:+.1f} | {share:+.0%} | {ea_calls.get(op, 0):.0f} | "
                     f"{vanilla_calls.get(op, 0):.0f} |")
    for name, table in (("EA", profile["ea_table"]), ("vanilla", profile["vanilla_table"])):
        lines += ["", f"## {name}: top ops by self time (last profiled step)", "", "```",
                  table, "```"]
    return "\n".join(lines) + "\n"


# --- targets and reports ------------------------------------------------------------


def find(rows: list[Results], **key: Any) -> Results | None:
    return next((r for r in rows if all(r[k] == v for k, v in key.items())), None)


def evaluate_targets(results: Results) -> list[Results]:
    """Issue #4's targets, for the figures this run has."""
    checks = []
    training = results.get("training", [])
    for length, bound in ((64, 0.9), (256, 0.75)):
        row = find(training, preset="iwslt", length=length)
        if row:
            checks.append({"target": f"training throughput iwslt/{length}", "value": row["ratio"],
                           "bound": f"≥ {bound}", "met": row["ratio"] >= bound})
    for row in results.get("decoding", {}).get("rows", []):
        checks.append({"target": f"decoding {row['preset']}", "value": row["ratio"],
                       "bound": "≥ 0.85", "met": row["ratio"] >= 0.85})
    memory = results.get("memory", [])
    if memory:
        worst = max(memory, key=lambda r: r["ratio"])
        checks.append({"target": f"training memory, worst cell "
                                 f"({worst['preset']}/{worst['length']})",
                       "value": worst["ratio"], "bound": "≤ 1.5", "met": worst["ratio"] <= 1.5})
    return checks


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def training_markdown(rows: list[Results]) -> str:
    return table(
        ["preset", "length", "sentences × length", "EA tok/s", "vanilla tok/s",
         "EA/vanilla (median)", "min–max"],
        [[r["preset"], str(r["length"]), f"{r['sentences']} × {r['length']}",
          f"{r['ea_tokens_per_s']:.0f}", f"{r['vanilla_tokens_per_s']:.0f}",
          f"**{r['ratio']:.2f}**", f"{r['ratio_min']:.2f}–{r['ratio_max']:.2f}"] for r in rows],
    )


def memory_markdown(rows: list[Results]) -> str:
    return table(
        ["preset", "length", "EA MB", "vanilla MB", "EA/vanilla", "EA activations MB (est.)",
         "vanilla activations MB (est.)", "activations EA/vanilla"],
        [[r["preset"], str(r["length"]), f"{r['ea_growth_mb']:.0f}",
          f"{r['vanilla_growth_mb']:.0f}", f"**{r['ratio']:.2f}**",
          f"{r['ea_activations_mb']:.0f}", f"{r['vanilla_activations_mb']:.0f}",
          f"{r['activations_ratio']:.2f}"] for r in rows],
    )


def decoding_markdown(decoding: Results) -> str:
    if "skipped" in decoding:
        return decoding["skipped"]
    return table(
        ["preset", "sentences", "EA sent/s", "vanilla sent/s", "EA tok/s", "vanilla tok/s",
         "EA/vanilla (median of batches)", "EA/vanilla (total time)"],
        [[r["preset"], str(r["sentences"]), f"{r['ea_sentences_per_s']:.1f}",
          f"{r['vanilla_sentences_per_s']:.1f}", f"{r['ea_tokens_per_s']:.0f}",
          f"{r['vanilla_tokens_per_s']:.0f}", f"**{r['ratio']:.2f}**",
          f"{r['ratio_total']:.2f}"] for r in decoding["rows"]],
    )


def steps_markdown(steps: Results) -> str:
    ratios = table(
        ["position", "EA ms", "vanilla ms", "EA/vanilla speed"],
        [[str(r["position"]), f"{r['ea_ms']:.2f}", f"{r['vanilla_ms']:.2f}",
          f"**{r['ratio']:.2f}**"] for r in steps["ratios_at"]],
    )
    fits = table(
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
    if not checks:
        return "No target applies to the figures of this run."
    return table(["target", "EA/vanilla", "bound", "met"],
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


def plot_training(results: Results, out: Path) -> None:
    """Throughput and memory ratios against sentence length, one line per preset.

    Dashed red lines: issue #4's bounds (throughput 0.9 at iwslt/64, 0.75 at iwslt/256;
    memory 1.5).
    """
    import matplotlib.pyplot as plt

    figure, (speed, memory) = plt.subplots(1, 2, figsize=(10, 4))
    panels = ((speed, "training", "training throughput EA/vanilla", (0.9, 0.75)),
              (memory, "memory", "peak training memory EA/vanilla", (1.5,)))
    for axis, key, label, bounds in panels:
        rows = results.get(key, [])
        for preset in dict.fromkeys(r["preset"] for r in rows):
            mine = [r for r in rows if r["preset"] == preset]
            axis.plot([r["length"] for r in mine], [r["ratio"] for r in mine], "o-", label=preset)
        axis.axhline(1.0, color="grey", linewidth=0.8)
        for bound in bounds:
            axis.axhline(bound, color="red", linestyle="--", linewidth=0.8)
        lengths = sorted({r["length"] for r in rows})
        axis.set_xscale("log", base=2)
        axis.set_xticks(lengths, labels=[str(n) for n in lengths], minor=False)
        axis.minorticks_off()
        axis.set(xlabel="sentence length (tokens)", ylabel=label)
        axis.legend()
    figure.tight_layout()
    figure.savefig(out / "training_ratios.png", dpi=120)
    plt.close(figure)


def plot_steps(steps: Results, out: Path) -> None:
    """Step time against target position, with the fitted lines."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    x = np.arange(1, len(steps["ea_ms"]) + 1)
    for name, color in (("ea", "C0"), ("vanilla", "C1")):
        fit = steps[f"{name}_fit"]
        axis.plot(x, steps[f"{name}_ms"], ".", color=color, markersize=3,
                  label=f"{'EA' if name == 'ea' else 'vanilla'} (R² {fit['r2']:.3f})")
        axis.plot(x, fit["intercept_ms"] + fit["slope_ms_per_position"] * x, color=color)
    axis.set(xlabel="target position", ylabel="ms per decoding step",
             title=f"{steps['preset']}, {steps['rows']} rows")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "step_time.png", dpi=120)
    plt.close(figure)


def write_outputs(results: Results, out: Path, final: bool) -> None:
    """results.json always; results.md and the plots once the run is over."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    if not final:
        return
    (out / "results.md").write_text(results_markdown(results))
    if results.get("training") or results.get("memory"):
        plot_training(results, out)
    if "step_time" in results:
        plot_steps(results["step_time"], out)


# --- running ------------------------------------------------------------------------


def machine() -> str:
    """CPU model and core count (or the GPU's name)."""
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    description = f"{model}, {os.cpu_count()} cores"
    if torch.cuda.is_available():
        description += f"; GPU {torch.cuda.get_device_name()}"
    return description


def run_metadata(settings: Settings) -> Results:
    return {
        "command": "python -m benchmarks.speed " + shlex.join(sys.argv[1:]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "device": settings.device,
        "dtype": settings.dtype,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "fairseq": fairseq.__version__,
        "ea_mt": ea_mt.__version__,
        "load_start": [round(x, 2) for x in os.getloadavg()],
    }


PARTS = ("training", "memory", "decoding", "steps")


def run_grid(settings: Settings, parts: tuple[str, ...], out: Path) -> Results:
    """Every measurement asked for; results.json is rewritten after each grid cell."""
    start = time.perf_counter()
    results: Results = {"meta": run_metadata(settings), "settings": asdict(settings)}
    cells = [(p, n) for p in settings.presets for n in settings.lengths]
    for part, measure in (("training", measure_training), ("memory", measure_memory)):
        if part in parts:
            results[part] = []
            for preset, length in cells:
                log(f"{part} {preset}/{length}")
                results[part].append(measure(preset, length, settings))
                write_outputs(results, out, final=False)
    if "decoding" in parts:
        results["decoding"] = measure_all_decoding(settings)
    if "steps" in parts:
        log(f"per-step decoding time, {settings.step_positions} positions")
        results["step_time"] = measure_step_times(settings)
    results["targets"] = evaluate_targets(results)
    results["meta"]["wall_s"] = time.perf_counter() - start
    results["meta"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    write_outputs(results, out, final=True)
    return results


def default_out(kind: str) -> Path:
    """benchmarks/results/<kind>-<date>[-N]/, never an existing folder."""
    stem = REPO / "benchmarks" / "results" / f"{kind}-{dt.date.today().isoformat()}"
    out, number = stem, 1
    while out.exists():
        number += 1
        out = stem.with_name(f"{stem.name}-{number}")
    return out


def settings_from(args: argparse.Namespace) -> Settings:
    settings = QUICK if args.quick else Settings()
    overrides: dict[str, Any] = {"device": args.device, "dtype": args.dtype,
                                 "threads": args.threads, "decode_input": args.decode_input}
    if args.presets:
        overrides["presets"] = tuple(args.presets.split(","))
    if args.lengths:
        overrides["lengths"] = tuple(int(n) for n in args.lengths.split(","))
    if args.tokens:
        overrides["tokens"] = {**settings.tokens, **parse_pairs(args.tokens)}
    if args.steps:
        overrides["steps"] = {**settings.steps, **parse_pairs(args.steps)}
    if args.decode_limit:
        overrides["decode_limit"] = args.decode_limit
    if args.step_rows:
        overrides["step_rows"] = args.step_rows
    return replace(settings, **overrides)


def parse_pairs(text: str) -> dict[str, int]:
    """"iwslt=2048,big=512" → {"iwslt": 2048, "big": 512}."""
    pairs = (item.split("=", 1) for item in text.split(",") if item)
    return {name: int(value) for name, value in pairs}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="reduced grid (tiny+iwslt, lengths 16/64, few steps) for smoke tests")
    p.add_argument("--out", type=Path, help="output folder (default benchmarks/results/"
                                             "speed-<date>/, or profile-<date>/)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"),
                   help="bf16 runs under torch.autocast (default fp32)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default torch's)")
    p.add_argument("--decode-input", type=Path, default=DEFAULT_DECODE_INPUT,
                   help="source text to decode, one sentence a line (default Multi30k "
                        "test2016.en in ../shared; decoding is skipped if missing)")
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--presets", help="comma-separated presets (of tiny,iwslt,big)")
    p.add_argument("--lengths", help="comma-separated sentence lengths, e.g. 16,64,256")
    p.add_argument("--tokens", help="target tokens per training batch, e.g. iwslt=2048,big=512")
    p.add_argument("--steps", help="timed training steps per preset, e.g. iwslt=5,big=3")
    p.add_argument("--decode-limit", type=int, help="decode only the first N lines")
    p.add_argument("--step-rows", type=int,
                   help="rows (sentences × beam) of the per-step decoding timing (default 40)")
    p.add_argument("--profile", nargs=2, metavar=("PRESET", "LENGTH"),
                   help="profile one training step of EA and vanilla instead of the grid")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="rewrite DIR's results.md and plots from its results.json, measure nothing")
    p.add_argument("--memory-worker", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = settings_from(args)
    threads = args.threads
    if args.memory_worker:
        threads = json.loads(args.memory_worker)["threads"]
    if threads:
        torch.set_num_threads(threads)
    if args.memory_worker:
        print(json.dumps(memory_worker(json.loads(args.memory_worker))))
        return 0
    if args.report:
        write_outputs(json.loads((args.report / "results.json").read_text()), args.report,
                      final=True)
        return 0
    if args.profile:
        preset, length = args.profile[0], int(args.profile[1])
        out = args.out or default_out("profile")
        out.mkdir(parents=True, exist_ok=True)
        profile = profile_training(preset, length, settings)
        report = profile_markdown(profile)
        (out / f"profile-{preset}-{length}.json").write_text(json.dumps(profile, indent=1) + "\n")
        (out / f"profile-{preset}-{length}.md").write_text(report)
        print(report)
        return 0
    parts = tuple(part for part in args.parts.split(",") if part)
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser().error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    out = args.out or default_out("speed-quick" if args.quick else "speed")
    results = run_grid(settings, parts, out)
    print(results_markdown(results))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
