"""Decoding speed: fairseq's beam search over a real text, every hypothesis forced to the
same length, EA and vanilla alternated batch by batch."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import torch
from fairseq.data import Dictionary
from fairseq.data.data_utils import collate_tokens
from fairseq.sequence_generator import SequenceGenerator
from torch import Tensor, nn

from benchmarks.common import log
from benchmarks.speed.models import EOS, FIRST_WORD, PAD, build_model, make_dictionary, precision
from benchmarks.speed.settings import Results, Settings
from benchmarks.speed.stats import speed_ratios
from benchmarks.speed.timing import interleave, timed


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
