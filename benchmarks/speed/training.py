"""Training throughput: full training steps of EA and vanilla, alternated in one process."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss
from torch import Tensor, nn

from benchmarks.speed.models import PAD, build_model, make_dictionary, precision, synthetic_batch
from benchmarks.speed.settings import Results, Settings
from benchmarks.speed.stats import speed_ratios
from benchmarks.speed.timing import interleave, timed

LABEL_SMOOTHING = 0.1


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
