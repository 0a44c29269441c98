"""Build small EA and vanilla models, and batches for them, without data on disk."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import torch
from fairseq.data import Dictionary
from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY

import ea_mt  # noqa: F401  (registers the architectures)

VOCAB = 40


def make_dictionary(size: int = VOCAB) -> Dictionary:
    """A joined dictionary with ``size`` made-up symbols after fairseq's specials."""
    dictionary = Dictionary()
    for index in range(size):
        dictionary.add_symbol(f"w{index}")
    return dictionary


def build_model(arch: str = "ea_transformer_tiny", seed: int = 0, **overrides):
    """A model of ``arch`` (dropout off unless given) in eval mode, on a made-up dictionary."""
    args = argparse.Namespace(arch=arch, dropout=0.0, attention_dropout=0.0, **overrides)
    ARCH_CONFIG_REGISTRY[arch](args)
    dictionary = make_dictionary()
    task = SimpleNamespace(source_dictionary=dictionary, target_dictionary=dictionary)
    torch.manual_seed(seed)
    model = ARCH_MODEL_REGISTRY[arch].build_model(args, task)
    return model.eval()


def random_batch(
    lengths_src: list[int], lengths_tgt: list[int], seed: int = 0, pad: int = 1, eos: int = 2
) -> dict[str, torch.Tensor]:
    """src_tokens left-padded and prev_output_tokens right-padded, as fairseq collates them."""
    generator = torch.Generator().manual_seed(seed)
    batch = len(lengths_src)
    src = torch.full((batch, max(lengths_src)), pad)
    prev = torch.full((batch, max(lengths_tgt)), pad)
    first_word = 4
    for row, (ls, lt) in enumerate(zip(lengths_src, lengths_tgt, strict=True)):
        words = torch.randint(first_word, first_word + VOCAB, (ls,), generator=generator)
        words[-1] = eos
        src[row, src.size(1) - ls:] = words
        target = torch.randint(first_word, first_word + VOCAB, (lt,), generator=generator)
        target[0] = eos
        prev[row, :lt] = target
    return {
        "src_tokens": src,
        "src_lengths": torch.tensor(lengths_src),
        "prev_output_tokens": prev,
    }
