"""The compared models, untrained, and their synthetic vocabulary and batches."""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager, nullcontext
from types import SimpleNamespace

import torch
from fairseq.data import Dictionary
from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY
from torch import Tensor, nn

import ea_mt  # noqa: F401  (registers the EA architectures with fairseq)
from benchmarks.speed.settings import Settings

# Our preset names → fairseq's vanilla architectures; "ea_" + name is the EA twin.
ARCHS = {
    "tiny": "transformer_tiny",
    "iwslt": "transformer_iwslt_de_en",
    "big": "transformer_vaswani_wmt_en_de_big",
}
PAD, EOS, FIRST_WORD = 1, 2, 4  # fairseq's Dictionary: <s>, <pad>, </s>, <unk>, words…


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
    """Random word ids (no specials), shape (rows, length)."""
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
