"""Word alignments of translations from one decoder layer's cross attention (``--print-alignment``).

After beam search, each hypothesis is run once more, teacher-forced and batched, through the
model with fairseq's ``alignment_layer``; the head-averaged cross attention of that layer
gives each target piece its most attended source piece (:func:`ea_mt.inspection.alignment_pairs`),
and pieces are then mapped to the whitespace-separated words of the detokenised source and
translation.  Nothing here runs unless alignments are asked for.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sentencepiece as spm
import torch
from fairseq.data.data_utils import collate_tokens
from torch import Tensor

from ea_mt.errors import UserError
from ea_mt.inspection import EOS, SPECIALS, alignment_pairs

if TYPE_CHECKING:
    from ea_mt.translation import Hypothesis, Translator


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

    ``weights`` and the pieces are as for :func:`ea_mt.inspection.alignment_pairs` (``</s>``
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
    translator: Translator,
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
    tgt_dict = translator.tgt_dict
    weights = cross_attention(
        translator.model,
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
        aligned[i].append(replace(hyp, alignment=word_alignment(translator.sp, w, src, tgt)))
    return aligned
