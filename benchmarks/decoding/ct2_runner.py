"""CTranslate2 on the vanilla model: the conversion, kept in a cache, and the decoding.

CTranslate2 is the benchmark's reference, never a dependency of ea_mt
(requirements/benchmarks.txt pins it).  Its fairseq converter loads the checkpoint with
``torch.load(weights_only=True)`` and builds the model through fairseq's registries, so it
runs in a process that has imported ea_mt: ea_mt allow-lists the types of fairseq
checkpoints and registers its architectures (``transformer_tiny`` included).

How the decoding options match fairseq's (``ea_mt.decoding.options.DecodeOptions``):

- input: the same SentencePiece pieces, cut to the same source length, without EOS: the
  converted model adds it (``add_source_eos``) and starts the target with EOS, as fairseq;
  ``max_input_length=0``, the cut is ours;
- ``length_penalty=lenpen``: CTranslate2 divides a finished hypothesis' log-probability by
  ``length ** length_penalty``, the length counting the EOS (seq2seq decoding always keeps
  it in the hypothesis and strips it from the result afterwards), as fairseq divides by
  ``(step + 1) ** lenpen``; with a non-zero penalty a sentence ends once ``beam``
  hypotheses finished (``patience=1``), as in fairseq; candidates: 2·beam per sentence;
- ``max_decoding_length``: fairseq's ``max_len = min(int(max_len_a · width + max_len_b),
  max_decoder_positions − 1)``, computed per batch the same way (width: the batch's source
  length with EOS).  fairseq lets a hypothesis have ``max_len`` tokens and then forces EOS;
  CTranslate2 ends it after ``max_len`` tokens, EOS or not, and its results leave EOS out,
  so the pieces agree; only the score of a hypothesis cut there differs (fairseq's adds
  the forced EOS's log-probability and counts it in the length), which can reorder the
  beam's hypotheses that reach the limit;
- ``min_decoding_length=1``: EOS may not come first, fairseq's ``min_len`` 1;
- ``beam_size=1`` is CTranslate2's greedy search, what fairseq's beam search of 1 does;
- one batch per call (``max_batch_size=0``), ``inter_threads=1``, ``intra_threads`` the
  run's thread count.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.common import log
from ea_mt.decoding.options import DecodeOptions
from ea_mt.modeldir import ModelFiles

COMPUTE_TYPES = {"fp32": "float32", "int8": "int8"}
INSTALL_HINT = "pip install -r requirements/benchmarks.txt"


def missing_reason() -> str | None:
    """Why CTranslate2 cannot run here, or None."""
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        return f"ctranslate2 is not installed ({INSTALL_HINT})"
    return None


def converted_model(files: ModelFiles, cache: Path) -> Path:
    """The CTranslate2 model of ``files.checkpoint`` (fp32, quantized at load time),
    converted once per checkpoint and ctranslate2 version into ``cache``."""
    stat = files.checkpoint.stat()
    version = metadata.version("ctranslate2")
    key = json.dumps([str(files.checkpoint.resolve()), stat.st_size, stat.st_mtime_ns, version])
    out = cache / f"{files.model_dir.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (out / "model.bin").is_file():
        log(f"CTranslate2: the conversion of {files.checkpoint} in {out}")
        return out
    log(f"CTranslate2: converting {files.checkpoint} into {out}")
    from ctranslate2.converters import FairseqConverter

    import ea_mt  # noqa: F401  (before the converter runs: torch's allow-list, fairseq's archs)

    cache.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    FairseqConverter(str(files.checkpoint), str(files.model_dir), source_lang=files.src,
                     target_lang=files.tgt).convert(str(partial), force=True)
    (partial / "converted-from.json").write_text(key + "\n", encoding="utf-8")
    partial.rename(out)
    return out


def max_decoding_length(options: DecodeOptions, width: int, max_decoder_positions: int) -> int:
    """fairseq's ``max_len`` for a batch of source ``width`` (EOS included)."""
    limit = int(options.max_len_a * width + options.max_len_b)
    return min(limit, max_decoder_positions - 1)


class CT2Runner:
    """A converted model in ``compute_type`` of :data:`COMPUTE_TYPES`, with fairseq's
    decoding options (module docstring)."""

    def __init__(self, model_dir: Path, precision: str, beam: int, threads: int,
                 max_source_pieces: int, max_decoder_positions: int,
                 options: DecodeOptions = DecodeOptions()) -> None:  # noqa: B008  (frozen)
        import ctranslate2

        self.translator = ctranslate2.Translator(
            str(model_dir), device="cpu", compute_type=COMPUTE_TYPES[precision],
            inter_threads=1, intra_threads=threads)
        self.beam = beam
        self.max_source_pieces = max_source_pieces
        self.max_decoder_positions = max_decoder_positions
        self.options = options

    def prepare(self, pieces: list[list[str]]) -> tuple[list[list[str]], int]:
        sources = [ps[: self.max_source_pieces] for ps in pieces]
        width = max(len(s) for s in sources) + 1  # the EOS the model adds
        return sources, max_decoding_length(self.options, width, self.max_decoder_positions)

    def run(self, prepared: tuple[list[list[str]], int]) -> list[Any]:
        sources, max_length = prepared
        return self.translator.translate_batch(
            sources, max_batch_size=0, beam_size=self.beam, patience=1,
            length_penalty=self.options.lenpen, max_input_length=0,
            max_decoding_length=max_length, min_decoding_length=1)

    def pieces(self, output: list[Any]) -> list[list[str]]:
        return [list(result.hypotheses[0]) for result in output]
