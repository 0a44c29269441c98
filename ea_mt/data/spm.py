"""Training the joint SentencePiece model and deriving the fairseq dictionary from it."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import sentencepiece as spm

from ea_mt.errors import UserError

SPM_TYPES = ("unigram", "bpe")
META_PIECES = 3  # <unk>, <s>, </s>: SentencePiece fails without room for them
ENCODE_BATCH = 10_000
T = TypeVar("T")


@dataclass(frozen=True)
class SpmSettings:
    """How the joint SentencePiece model is trained."""

    type: str = "unigram"
    vocab_size: int = 8000
    character_coverage: float = 0.9995
    input_sentence_size: int = 2_000_000  # sentences sampled for training; 0 = all


def train_spm(sentences: Iterable[str], settings: SpmSettings, threads: int = 2) -> bytes:
    """Train a SentencePiece model on ``sentences``; the serialized model.

    SentencePiece's own errors (vocabulary too large or too small for the data)
    become one-line UserErrors.  A size below :data:`META_PIECES` is tried at that size,
    so the error can say how many pieces the data needs.
    """
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            model_type=settings.type,
            vocab_size=max(settings.vocab_size, META_PIECES),
            character_coverage=settings.character_coverage,
            input_sentence_size=settings.input_sentence_size,
            shuffle_input_sentence=True,
            num_threads=threads,
            minloglevel=2,
        )
    except RuntimeError as error:
        raise UserError(_explain(str(error), settings.vocab_size)) from None
    return model.getvalue()


def _explain(message: str, vocab_size: int) -> str:
    too_high = re.search(r"Vocabulary size too high \((\d+)\).*<= (\d+)", message)
    if too_high:
        return (
            f"--vocab-size {vocab_size} is too large for this training data: SentencePiece "
            f"can build at most {too_high.group(2)} pieces from it; "
            f"pass --vocab-size {too_high.group(2)} or less"
        )
    too_low = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", message)
    if too_low:
        return (
            f"--vocab-size {vocab_size} is too small: the training data needs at least "
            f"{too_low.group(2)} pieces (one per character, and <unk>, <s>, </s>); "
            "pass a larger --vocab-size"
        )
    detail = re.sub(r"^.*?\] ", "", message.strip().splitlines()[-1])
    return f"SentencePiece training failed: {detail}"


def processor(model: bytes) -> spm.SentencePieceProcessor:
    """A SentencePiece processor for a serialized model."""
    return spm.SentencePieceProcessor(model_proto=model)


def vocab_text(sp: spm.SentencePieceProcessor) -> str:
    """The ``spm.vocab`` file: one ``piece<TAB>score`` line per piece, as spm_train writes."""
    return "".join(
        f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n" for i in range(sp.get_piece_size())
    )


def fairseq_dict_text(sp: spm.SentencePieceProcessor) -> str:
    """A fairseq dictionary holding every ordinary piece of ``sp`` (not <unk>, <s>, </s>).

    fairseq adds its own <s>, <pad>, </s> and <unk>; building the dictionary from the
    SentencePiece vocabulary keeps the two in step whatever the cleaning dropped.
    """
    lines = []
    for i in range(sp.get_piece_size()):
        if sp.is_unknown(i) or sp.is_control(i):
            continue
        lines.append(f"{sp.id_to_piece(i)} 1\n")
    return "".join(lines)


def encode(sp: spm.SentencePieceProcessor, lines: Iterable[str]) -> Iterator[list[str]]:
    """The pieces of each line, encoded in batches (SentencePiece is much faster so)."""
    for batch in _batches(lines):
        yield from sp.encode(batch, out_type=str)


def encode_pairs(
    sp: spm.SentencePieceProcessor, pairs: Iterable[tuple[str, str]]
) -> Iterator[tuple[list[str], list[str]]]:
    """The pieces of both sides of each pair, encoded in batches."""
    for batch in _batches(pairs):
        srcs = sp.encode([src for src, _ in batch], out_type=str)
        tgts = sp.encode([tgt for _, tgt in batch], out_type=str)
        yield from zip(srcs, tgts, strict=True)


def _batches(items: Iterable[T]) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == ENCODE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
