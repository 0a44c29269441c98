"""Word alignments of translations from one decoder layer's cross attention (``--print-alignment``).

After beam search, each hypothesis is run once more, teacher-forced and batched, through the
model with fairseq's ``alignment_layer``; the head-averaged cross attention of that layer
gives each target piece its most attended source piece (:func:`alignment_pairs`), and
pieces are then mapped to the whitespace-separated words of the detokenised source and
translation.  Nothing here runs unless alignments are asked for.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sentencepiece as spm
import torch
from fairseq.data.data_utils import collate_tokens
from torch import Tensor

from ea_mt.decoding.hypotheses import Hypothesis
from ea_mt.errors import UserError

EOS = "</s>"
SPECIALS = (EOS, "<pad>")


def hard_alignment(weights: Tensor, src_pieces: Sequence[str], tgt_pieces: Sequence[str]) -> str:
    """fairseq's hard alignment ("0-0 1-2 ..."): each target piece's most attended source piece.

    ``weights`` is (len(tgt_pieces), len(src_pieces)): one layer's cross-attention, rows the
    pieces each step predicts.  ``</s>`` and ``<pad>`` are skipped on both sides and the
    other pieces numbered from 0, as ``fairseq.utils.extract_hard_alignment`` does.
    """
    return " ".join(f"{s}-{t}" for s, t in alignment_pairs(weights, src_pieces, tgt_pieces))


def alignment_pairs(
    weights: Tensor, src_pieces: Sequence[str], tgt_pieces: Sequence[str]
) -> list[tuple[int, int]]:
    """The (source, target) piece numbers of :func:`hard_alignment`, in target order."""
    if tuple(weights.shape) != (len(tgt_pieces), len(src_pieces)):
        raise ValueError(
            f"weights are {tuple(weights.shape)}, pieces {len(tgt_pieces)}×{len(src_pieces)}"
        )
    src_index = _piece_numbers(src_pieces)
    tgt_index = _piece_numbers(tgt_pieces)
    valid_src = torch.tensor([i is not None for i in src_index])
    if not valid_src.any():
        return []
    scores = weights.float().masked_fill(~valid_src, float("-inf"))
    return [
        (src_index[int(scores[row].argmax())], tgt)
        for row, tgt in enumerate(tgt_index)
        if tgt is not None
    ]


def _piece_numbers(pieces: Sequence[str]) -> list[int | None]:
    numbers: list[int | None] = []
    count = 0
    for piece in pieces:
        numbers.append(None if piece in SPECIALS else count)
        count += piece not in SPECIALS
    return numbers


def check_layer(model: Any, layer: int | None) -> int:
    """The decoder layer to align with: ``layer``, or fairseq's default, the last one."""
    count = len(model.decoder.layers)
    if layer is None:
        return count - 1
    if not 0 <= layer < count:
        raise UserError(
            f"--alignment-layer {layer}: the model's decoder has layers 0 to {count - 1}"
        )
    return layer


def cross_attention(
    model: Any,
    sources: Sequence[Tensor],
    targets: Sequence[Tensor],
    layer: int,
    pad: int,
    eos: int,
) -> list[Tensor]:
    """Decoder layer ``layer``'s cross attention, averaged over heads, teacher-forced on each
    target (ending with ``eos``): a (len(target), len(source)) float tensor per pair."""
    device = next(model.parameters()).device
    src_tokens = collate_tokens(list(sources), pad, left_pad=True).to(device)
    prev = collate_tokens(list(targets), pad, eos, move_eos_to_beginning=True).to(device)
    lengths = torch.tensor([len(s) for s in sources], device=device)
    with torch.inference_mode(), warnings.catch_warnings():
        # fairseq's float future mask beside a bool padding mask; PyTorch warns, then copes
        warnings.filterwarnings("ignore", "Support for mismatched key_padding_mask")
        _, extra = model(src_tokens, lengths, prev, features_only=True, alignment_layer=layer)
    attn = extra["attn"][0].float().cpu()  # (B, T, S), sources left-padded
    width = attn.shape[-1]
    return [
        attn[b, : len(target), width - len(source) :]
        for b, (source, target) in enumerate(zip(sources, targets, strict=True))
    ]


def word_numbers(sp: spm.SentencePieceProcessor, pieces: Sequence[str]) -> list[int | None]:
    """Per piece, the whitespace-separated word of ``sp.decode_pieces(pieces)`` it falls in;
    ``None`` for a piece that decodes to whitespace only."""
    numbers: list[int | None] = []
    for end, piece in enumerate(pieces, start=1):
        if not sp.decode_pieces([piece]).strip():
            numbers.append(None)
        else:
            numbers.append(len(sp.decode_pieces(list(pieces[:end])).split()) - 1)
    return numbers


def word_alignment(
    sp: spm.SentencePieceProcessor,
    weights: Tensor,
    src_pieces: Sequence[str],
    tgt_pieces: Sequence[str],
) -> str:
    """Pharaoh-style word alignment ("0-0 1-2 ...", source-target, sorted by target word).

    ``weights`` and the pieces are as for :func:`alignment_pairs` (``</s>``
    and ``<pad>`` included); a word pair is kept once, however many of its pieces it links.
    """
    src_words = word_numbers(sp, [p for p in src_pieces if p not in SPECIALS])
    tgt_words = word_numbers(sp, [p for p in tgt_pieces if p not in SPECIALS])
    pairs = {
        (src_words[s], tgt_words[t])
        for s, t in alignment_pairs(weights, src_pieces, tgt_pieces)
        if src_words[s] is not None and tgt_words[t] is not None
    }
    return " ".join(f"{s}-{t}" for s, t in sorted(pairs, key=lambda pair: (pair[1], pair[0])))


def align(
    model: Any,
    sp: spm.SentencePieceProcessor,
    tgt_dict: Any,
    sources: Sequence[Tensor],
    source_pieces: Sequence[Sequence[str]],
    nbests: Sequence[Sequence[Hypothesis]],
    layer: int,
) -> list[list[Hypothesis]]:
    """``nbests`` (per source) with each hypothesis' word alignment filled in.

    ``sources`` are the source ids (``</s>`` last) and ``source_pieces`` the pieces they
    encode, without ``</s>``; hypotheses must carry their ``tokens``.
    """
    flat = [(i, hyp) for i, nbest in enumerate(nbests) for hyp in nbest]
    if not flat:
        return [[] for _ in nbests]
    weights = cross_attention(
        model,
        [sources[i] for i, _ in flat],
        [torch.tensor(hyp.tokens) for _, hyp in flat],
        layer,
        tgt_dict.pad(),
        tgt_dict.eos(),
    )
    aligned: list[list[Hypothesis]] = [[] for _ in nbests]
    for (i, hyp), w in zip(flat, weights, strict=True):
        src = [*source_pieces[i], EOS]
        tgt = [tgt_dict[t] for t in hyp.tokens]
        aligned[i].append(replace(hyp, alignment=word_alignment(sp, w, src, tgt)))
    return aligned
