"""ea-mt's own beam search: fairseq's SequenceGenerator semantics on IncrementalDecoder.

``FastBeamSearch`` reproduces ``fairseq.sequence_generator.SequenceGenerator`` with fairseq's
``BeamSearch`` as ea-mt uses it (beam, nbest, length penalty, max_len_a/max_len_b, min_len 1,
no unk penalty, temperature 1, no prefix or constraints): the same candidates (the best
2·beam continuations of every sentence), EOS finalised only among the first ``beam``
candidates, a sentence done once ``beam`` hypotheses ended or at the maximum length, where
only EOS may follow, scores normalised by ``len ** lenpen``, hypotheses sorted by score.

What differs is how the work is done:

- the decoder runs on :class:`~ea_mt.decoding.incremental.IncrementalDecoder`
  (preallocated caches, cross keys/values once per sentence, O(T) EA rows per step);
- the first step runs once per sentence, not once per beam row;
- candidates come from a per-row top-k of the log-probabilities followed by a top-k over
  the beam's few candidates, so the cumulative scores are added to 2·beam values per row
  rather than to the whole vocabulary;
- a hypothesis keeps its cache slot when it extends its parent; only a parent's extra
  children copy its history, into the slots of parents that had none;
- finished sentences leave the batch (as in fairseq), so the output projection and the
  log-softmax run over live rows only.

One deliberate difference: a NaN log-probability counts as −inf among the candidates,
where fairseq rewrites the whole row first.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from fairseq import utils
from torch import Tensor

from ea_mt.decoding.incremental import IncrementalDecoder
from ea_mt.decoding.options import DecodeOptions

MIN_LEN = 1  # what SequenceGenerator uses unless told otherwise: EOS may not come first

Hypotheses = list[list[dict[str, Tensor]]]


class FastBeamSearch:
    """A drop-in for SequenceGenerator's ``generate`` on one EA or vanilla transformer.

    ``generate(models, sample)`` takes what ``task.inference_step`` passes and returns, per
    sentence, its ``beam`` finished hypotheses best first, as dicts with ``tokens`` (ending
    in EOS), ``score`` (normalised), ``positional_scores``, ``attention`` and ``alignment``
    (empty), like fairseq's.
    """

    def __init__(
        self,
        model,
        tgt_dict,
        beam_size: int = 1,
        max_len_a: float = 0.0,
        max_len_b: int = 200,
        len_penalty: float = 1.0,
        max_len: int = 0,
    ) -> None:
        self.model = model
        self.pad, self.eos = tgt_dict.pad(), tgt_dict.eos()
        self.vocab_size = len(tgt_dict)
        self.beam_size = min(beam_size, self.vocab_size - 1)
        self.max_len_a, self.max_len_b = max_len_a, max_len_b
        self.len_penalty = len_penalty
        self.max_len = max_len or model.max_decoder_positions()

    @classmethod
    def for_options(cls, model, tgt_dict, options: DecodeOptions) -> FastBeamSearch:
        """The search for ``options``, as SequenceGenerator gets them (nbest: the caller's cut)."""
        return cls(model, tgt_dict, beam_size=options.beam, max_len_a=options.max_len_a,
                   max_len_b=options.max_len_b, len_penalty=options.lenpen)

    def generate(self, models: list | None, sample: dict[str, Any], prefix_tokens=None,
                 constraints=None, **kwargs) -> Hypotheses:
        """Beam search over ``sample["net_input"]`` (``src_tokens``, ``src_lengths``)."""
        if prefix_tokens is not None or constraints is not None or kwargs:
            raise ValueError("the fast beam search takes no prefix tokens or constraints")
        net_input = sample["net_input"]
        with torch.inference_mode():
            return self.search(net_input["src_tokens"], net_input["src_lengths"])

    def search(self, src_tokens: Tensor, src_lengths: Tensor) -> Hypotheses:
        """Hypotheses for a left-padded batch of sources."""
        bsz, src_len = src_tokens.shape
        max_len = min(int(self.max_len_a * src_len + self.max_len_b), self.max_len - 1)
        if max_len < MIN_LEN:
            raise ValueError(f"the maximum output length {max_len} is below {MIN_LEN}")
        encoder_out = self.model.encoder(src_tokens, src_lengths=src_lengths)
        decoder = IncrementalDecoder(self.model, encoder_out, max_steps=max_len + 1)
        return _Search(self, decoder, bsz, max_len, src_tokens.device).run()


class _Search:
    """The state of one batch's search; names follow fairseq's ``_generate``."""

    def __init__(self, owner: FastBeamSearch, decoder: IncrementalDecoder, bsz: int,
                 max_len: int, device: torch.device) -> None:
        self.o, self.decoder = owner, decoder
        self.bsz, self.max_len, self.device = bsz, max_len, device
        beam = owner.beam_size
        self.tokens = torch.full((bsz * beam, max_len + 2), owner.pad, dtype=torch.long,
                                 device=device)
        self.tokens[:, 0] = owner.eos
        self.scores = torch.zeros(bsz * beam, max_len + 1, device=device)
        self.finalized: Hypotheses = [[] for _ in range(bsz)]
        self.live = torch.arange(bsz, device=device)  # original index of each live sentence
        # Slot (within its sentence's group) of each hypothesis, in fairseq's beam order.
        self.slots = torch.arange(beam, device=device).repeat(bsz, 1)
        self.cands_to_ignore = torch.zeros(bsz, beam, dtype=torch.bool, device=device)

    def run(self) -> Hypotheses:
        o = self.o
        for step in range(self.max_len + 1):
            cand_scores, cand_indices, cand_beams = self._candidates(step)
            eos_mask = eos_candidates(cand_scores, cand_indices, self.cands_to_ignore, o.eos)
            finished = self._finalize_eos(step, cand_beams, cand_scores, eos_mask)
            if len(finished) == self.bsz:
                break
            assert step < self.max_len, f"{step} < {self.max_len}"
            if finished:
                keep = torch.ones(self.bsz, dtype=torch.bool, device=self.device)
                keep[finished] = False
                batch_idxs = keep.nonzero().view(-1)
                eos_mask, cand_beams = eos_mask[batch_idxs], cand_beams[batch_idxs]
                cand_scores, cand_indices = cand_scores[batch_idxs], cand_indices[batch_idxs]
                self._drop(batch_idxs)
            self._extend(step, cand_scores, cand_indices, cand_beams, eos_mask)
        for sent, hyps in enumerate(self.finalized):
            self.finalized[sent] = best_first(hyps)
        return self.finalized

    def _offsets(self) -> Tensor:
        """The first beam row of each live sentence, as a column."""
        return torch.arange(self.bsz, device=self.device)[:, None] * self.o.beam_size

    def _finalize_eos(self, step: int, cand_beams: Tensor, cand_scores: Tensor,
                      eos_mask: Tensor) -> list[int]:
        """Finalise the EOS candidates among each sentence's first ``beam``; the sentences
        (current indices) that are done."""
        beam = self.o.beam_size
        cand_bbsz_idx = cand_beams + self._offsets()
        eos_bbsz_idx = torch.masked_select(cand_bbsz_idx[:, :beam], eos_mask[:, :beam])
        if eos_bbsz_idx.numel() == 0:
            return []
        eos_scores = torch.masked_select(cand_scores[:, :beam], eos_mask[:, :beam])
        return self._finalize(step, eos_bbsz_idx, eos_scores)

    def _extend(self, step: int, cand_scores: Tensor, cand_indices: Tensor, cand_beams: Tensor,
                eos_mask: Tensor) -> None:
        """Continue each sentence with its first ``beam`` candidates that are not EOS."""
        beam = self.o.beam_size
        offsets = self._offsets()
        active_hypos, self.cands_to_ignore = continuations(eos_mask, self.cands_to_ignore)
        active_bbsz_idx = torch.gather(cand_beams + offsets, 1, active_hypos).view(-1)

        tokens, scores = self.tokens, self.scores
        tokens[:, : step + 1] = tokens[:, : step + 1].index_select(0, active_bbsz_idx)
        tokens.view(self.bsz, beam, -1)[:, :, step + 1] = torch.gather(
            cand_indices, 1, active_hypos)
        if step > 0:
            scores[:, :step] = scores[:, :step].index_select(0, active_bbsz_idx)
        scores.view(self.bsz, beam, -1)[:, :, step] = torch.gather(cand_scores, 1, active_hypos)
        self._move_slots(step, active_bbsz_idx.view(self.bsz, beam) - offsets)

    def _candidates(self, step: int) -> tuple[Tensor, Tensor, Tensor]:
        """fairseq's BeamSearch.step: the best 2·beam (score, token, beam) of each sentence."""
        o, beam, decoder = self.o, self.o.beam_size, self.decoder
        if step == 0:
            logits = decoder.step(self.tokens[::beam, 0])  # one row per sentence
            decoder.expand(beam)
        else:
            inputs = torch.empty_like(self.tokens[:, step])
            inputs[self._physical_rows()] = self.tokens[:, step]
            logits = decoder.step(inputs)
        lprobs = utils.log_softmax(logits, dim=-1)
        lprobs[:, o.pad] = -math.inf
        if step >= self.max_len:
            lprobs[:, : o.eos] = -math.inf
            lprobs[:, o.eos + 1 :] = -math.inf
        elif step < MIN_LEN:
            lprobs[:, o.eos] = -math.inf
        top_lprobs, top_tokens = row_candidates(lprobs, beam)
        if step == 0:
            totals = top_lprobs
            width = o.vocab_size - 1
        else:
            rows = self._physical_rows()
            top_lprobs, top_tokens = top_lprobs[rows], top_tokens[rows]
            totals = top_lprobs + self.scores[:, step - 1 : step]
            width = beam * o.vocab_size - 1
        return best_candidates(totals.view(self.bsz, -1), top_tokens, min(2 * beam, width))

    def _physical_rows(self) -> Tensor:
        """The decoder row of each hypothesis, in beam order."""
        return (self.slots + self._offsets()).view(-1)

    def _finalize(self, step: int, bbsz_idx: Tensor, eos_scores: Tensor) -> list[int]:
        """fairseq's finalize_hypos: the sentences (current indices) finished now."""
        o, beam = self.o, self.o.beam_size
        unfin_idx = torch.div(bbsz_idx, beam, rounding_mode="trunc")
        sents = self.live.index_select(0, unfin_idx).tolist()
        hypotheses = ended_hypotheses(self.tokens, self.scores, bbsz_idx, eos_scores,
                                      [step] * len(sents), o)
        for sent, hypothesis in zip(sents, hypotheses, strict=True):
            if len(self.finalized[sent]) < beam:
                self.finalized[sent].append(hypothesis)
        done = sorted({
            index for index, sent in zip(unfin_idx.tolist(), sents, strict=True)
            if len(self.finalized[sent]) == beam or step == self.max_len
        })
        return done

    def _drop(self, batch_idxs: Tensor) -> None:
        """Keep only the sentences ``batch_idxs`` (current indices) in every buffer."""
        beam = self.o.beam_size
        new_bsz = batch_idxs.numel()
        self.live = self.live[batch_idxs]
        self.cands_to_ignore = self.cands_to_ignore[batch_idxs]
        self.slots = self.slots[batch_idxs]
        self.scores = self.scores.view(self.bsz, -1)[batch_idxs].view(new_bsz * beam, -1)
        self.tokens = self.tokens.view(self.bsz, -1)[batch_idxs].view(new_bsz * beam, -1)
        self.decoder.keep_sentences(batch_idxs)
        self.bsz = new_bsz

    def _move_slots(self, step: int, parents: Tensor) -> None:
        """Give each new hypothesis a slot holding its parent's history (see ``moved_slots``)."""
        if step == 0:  # every slot of a sentence still holds the same single row
            self.slots = torch.arange(self.o.beam_size, device=self.device).repeat(self.bsz, 1)
            return
        self.slots, sources, copies = moved_slots(self.slots, parents)
        offsets = self._offsets()
        self.decoder.copy_rows((sources + offsets)[copies], (self.slots + offsets)[copies])


# -- the steps of the search that the continuous search (continuous.py) shares -------------


def row_candidates(lprobs: Tensor, beam: int) -> tuple[Tensor, Tensor]:
    """Each row's best 2·beam (log-probability, token); a NaN counts as −inf."""
    top_lprobs, top_tokens = lprobs.topk(min(2 * beam, lprobs.size(-1)), dim=-1)
    return top_lprobs.masked_fill_(top_lprobs.isnan(), -math.inf), top_tokens


def best_candidates(totals: Tensor, top_tokens: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """The best ``k`` (score, token, beam) of each sentence, from its rows' ``totals``
    (sentences, beam·per_row) and tokens (rows in beam order, per_row)."""
    cand_scores, flat = torch.topk(totals, k=k)
    cand_beams = torch.div(flat, top_tokens.size(1), rounding_mode="trunc")
    cand_indices = top_tokens.view(totals.size(0), -1).gather(1, flat)
    return cand_scores, cand_indices, cand_beams


def eos_candidates(cand_scores: Tensor, cand_indices: Tensor, cands_to_ignore: Tensor,
                   eos: int) -> Tensor:
    """The candidates that end a hypothesis: EOS, not −inf, not of an ignored beam."""
    eos_mask = cand_indices.eq(eos) & cand_scores.ne(-math.inf)
    eos_mask[:, : cands_to_ignore.size(1)][cands_to_ignore] = False
    return eos_mask


def continuations(eos_mask: Tensor, cands_to_ignore: Tensor) -> tuple[Tensor, Tensor]:
    """Each sentence's first ``beam`` candidates that are not EOS, and the new
    ``cands_to_ignore`` (where there were fewer); ``eos_mask`` is updated in place."""
    beam = cands_to_ignore.size(1)
    eos_mask[:, :beam] = ~((~cands_to_ignore) & (~eos_mask[:, :beam]))
    active_mask = eos_mask.long() * (2 * beam) + torch.arange(eos_mask.size(1),
                                                              device=eos_mask.device)
    new_cands_to_ignore, active_hypos = torch.topk(active_mask, k=beam, dim=1, largest=False)
    cands_to_ignore = new_cands_to_ignore.ge(2 * beam)[:, :beam]
    assert (~cands_to_ignore).any(dim=1).all()
    return active_hypos, cands_to_ignore


def ended_hypotheses(tokens: Tensor, scores: Tensor, bbsz_idx: Tensor, eos_scores: Tensor,
                     steps: list[int], o: FastBeamSearch) -> list[dict[str, Tensor]]:
    """fairseq's finalize_hypos for the hypotheses ``bbsz_idx`` (rows of ``tokens`` and
    ``scores``) ending with EOS at ``steps``: their dicts, as SequenceGenerator returns them."""
    last = max(steps)
    ends = torch.tensor(steps, device=tokens.device)[:, None]
    tokens_clone = tokens.index_select(0, bbsz_idx)[:, 1 : last + 2]
    tokens_clone.scatter_(1, ends, o.eos)
    pos_scores = scores.index_select(0, bbsz_idx)[:, : last + 1]
    pos_scores.scatter_(1, ends, eos_scores[:, None])
    pos_scores[:, 1:] = pos_scores[:, 1:] - pos_scores[:, :-1]
    lengths = torch.tensor([(step + 1) ** o.len_penalty for step in steps],
                           dtype=eos_scores.dtype, device=eos_scores.device)
    eos_scores = eos_scores / lengths
    return [
        {
            "tokens": tokens_clone[i, : step + 1],
            "score": eos_scores[i],
            "attention": torch.empty(0),
            "alignment": torch.empty(0),
            "positional_scores": pos_scores[i, : step + 1],
        }
        for i, step in enumerate(steps)
    ]


def best_first(hypotheses: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
    """A sentence's finished hypotheses sorted by score, best first, as fairseq sorts them."""
    order = torch.sort(torch.tensor([float(h["score"].item()) for h in hypotheses]),
                       descending=True)[1]
    return [hypotheses[i] for i in order]


def moved_slots(slots: Tensor, parents: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Slots for the new hypotheses: (new slots, parents' slots, which must copy).

    ``parents`` (sentences, beam) are the beam positions each new hypothesis extends.
    A parent's first child keeps the parent's slot; its other children take the slots
    of parents without children, which must receive a copy of the parent's history.
    """
    beam = slots.size(1)
    parent_slots = slots.gather(1, parents)  # (sentences, beam)
    same = parent_slots[:, :, None] == parent_slots[:, None, :]
    earlier = torch.ones(beam, beam, dtype=torch.bool, device=slots.device).tril(-1)
    first = ~(same & earlier).any(-1)
    used = torch.zeros_like(first)
    used.scatter_(1, parent_slots, True)
    free = torch.sort(used.to(torch.uint8), dim=1, stable=True)[1]  # unused slots first
    rank = (~first).long().cumsum(1) - 1
    new_slots = torch.where(first, parent_slots, free.gather(1, rank.clamp(min=0)))
    return new_slots, parent_slots, ~first
