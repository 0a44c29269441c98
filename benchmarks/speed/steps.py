"""Per-step decoding time: one incremental decoding step at each target position."""

from __future__ import annotations

import statistics

import torch
from torch import Tensor, nn

from benchmarks.speed.models import EOS, build_model, make_dictionary, precision, random_words
from benchmarks.speed.settings import Results, Settings
from benchmarks.speed.stats import step_fit, step_ratios_at
from benchmarks.speed.timing import interleave, timed

STEP_SOURCE_LEN = 20  # source tokens per sentence in the per-step decoding timing
STEP_WARMUP = 16  # untimed decoding steps before the timed passes


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
