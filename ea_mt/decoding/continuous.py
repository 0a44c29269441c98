"""Continuous batching: sentences join a running beam search between decoder steps.

``ContinuousSearch`` runs :class:`~ea_mt.decoding.beam_search.FastBeamSearch`'s search
(fairseq's SequenceGenerator semantics) over sentences that each started at their own
step: ``admit`` encodes new sentences and gives them decoder slots at target position 0
(:class:`~ea_mt.decoding.incremental.ContinuousDecoder`), ``step`` advances every live
sentence by one token and hands back, at once, the sentences that finished.  Each
sentence keeps its own step count, maximum length (from its own source length), minimum
length, length penalty and positional scores, so its hypotheses are those it gets from
``FastBeamSearch`` alone, whenever it joined and whoever it shares the steps with.

A sentence's first step runs on all its ``beam`` slots (fed the same EOS) with only the
first one's candidates counted, where the static search runs one row and expands after.

``ContinuousTranslation`` does the same for raw lines through a :class:`Translator`,
returning the :class:`LineResult` that ``Translator.translate_batch`` gives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from fairseq import utils
from fairseq.data.data_utils import collate_tokens
from torch import Tensor

from ea_mt.decoding.beam_search import (
    MIN_LEN,
    FastBeamSearch,
    Hypotheses,
    best_candidates,
    best_first,
    continuations,
    ended_hypotheses,
    eos_candidates,
    moved_slots,
    row_candidates,
)
from ea_mt.decoding.hypotheses import LineResult
from ea_mt.decoding.incremental import ContinuousDecoder, unsupported_reason

if TYPE_CHECKING:
    from ea_mt.decoding.translation import SourceLine, Translator


def continuous_reason(search: Any) -> str | None:
    """Why ``search`` (a Translator's generator) cannot run continuously, or None."""
    if not isinstance(search, FastBeamSearch):
        return "not ea-mt's fast beam search"
    reason = unsupported_reason(search.model)
    if reason is not None:
        return f"the fast decoder does not support {reason}"
    if search.vocab_size < 2 * search.beam_size + 2:
        return "a target vocabulary smaller than twice the beam"  # fairseq's k differs
    return None


@dataclass(frozen=True)
class Finished:
    """A sentence done: its tag, its hypotheses (best first) and its output limit."""

    tag: Any
    hypotheses: list[dict[str, Tensor]]
    max_len: int


class ContinuousSearch:
    """FastBeamSearch's beam search over sentences that join it between steps.

    State per live sentence, in admission order (finished ones leave): its ``beam``
    hypotheses' tokens, cumulative and per-position scores, cache slots and ignored
    candidates, as in the static search, plus its own maximum length.
    """

    def __init__(self, owner: FastBeamSearch) -> None:
        reason = continuous_reason(owner)
        if reason is not None:
            raise ValueError(f"the continuous search cannot run: {reason}")
        self.o = owner
        self.device = next(owner.model.parameters()).device
        self._reset()

    def _reset(self) -> None:
        beam, device = self.o.beam_size, self.device
        self.decoder: ContinuousDecoder | None = None
        self.tags: list[Any] = []
        self.finalized: Hypotheses = []
        self.max_lens: list[int] = []
        self.limits = torch.zeros(0, dtype=torch.long, device=device)  # max_lens, as a tensor
        self.tokens = torch.zeros(0, 2, dtype=torch.long, device=device)
        self.scores = torch.zeros(0, 1, device=device)
        self.totals = torch.zeros(0, device=device)  # each hypothesis' score so far
        self.slots = torch.zeros(0, beam, dtype=torch.long, device=device)
        self.cands_to_ignore = torch.zeros(0, beam, dtype=torch.bool, device=device)

    @property
    def live(self) -> int:
        """Sentences being searched."""
        return len(self.tags)

    @torch.inference_mode()
    def admit(self, sources: Sequence[Tensor], tags: Sequence[Any]) -> None:
        """Add sentences (source ids, ``</s>`` last), known by ``tags``, at their step 0."""
        if not sources:
            return
        o, beam, device = self.o, self.o.beam_size, self.device
        lengths = [len(source) for source in sources]
        max_lens = [min(int(o.max_len_a * n + o.max_len_b), o.max_len - 1) for n in lengths]
        if min(max_lens) < MIN_LEN:
            raise ValueError(f"the maximum output length {min(max_lens)} is below {MIN_LEN}")
        src_tokens = collate_tokens(list(sources), o.model.encoder.padding_idx,
                                    left_pad=True).to(device)
        encoder_out = o.model.encoder(src_tokens,
                                      src_lengths=torch.tensor(lengths, device=device))
        if self.decoder is None:
            self.decoder = ContinuousDecoder(o.model, encoder_out, max_steps=o.max_len,
                                             group=beam)
        else:
            self.decoder.admit(encoder_out)
        rows = len(sources) * beam
        width = max(self.tokens.size(1), max(max_lens) + 2)
        self.tokens = torch.cat([F.pad(self.tokens, (0, width - self.tokens.size(1)), value=o.pad),
                                 self.tokens.new_full((rows, width), o.pad)])
        self.tokens[-rows:, 0] = o.eos
        self.scores = torch.cat([F.pad(self.scores, (0, width - 1 - self.scores.size(1))),
                                 self.scores.new_zeros(rows, width - 1)])
        first = torch.full((len(sources), beam), -math.inf, device=device)
        first[:, 0] = 0.0  # a first step counts the candidates of one slot only
        self.totals = torch.cat([self.totals, first.view(-1)])
        self.slots = torch.cat([self.slots, torch.arange(beam, device=device)
                                .repeat(len(sources), 1)])
        self.cands_to_ignore = torch.cat([self.cands_to_ignore,
                                          self.cands_to_ignore.new_zeros(len(sources), beam)])
        self.max_lens += max_lens
        self.limits = torch.cat([self.limits, torch.tensor(max_lens, device=device)])
        self.tags += list(tags)
        self.finalized += [[] for _ in sources]

    @torch.inference_mode()
    def step(self) -> list[Finished]:
        """One token for every live sentence; the sentences that finished with it."""
        if not self.tags:
            return []
        assert self.decoder is not None
        o, beam = self.o, self.o.beam_size
        steps = self.decoder.lengths  # this step's position, per sentence
        offsets = self._offsets()
        rows = (self.slots + offsets).view(-1)  # the decoder row of each hypothesis
        inputs = torch.empty_like(rows)
        inputs[rows] = self.tokens.gather(1, steps.repeat_interleave(beam)[:, None]).view(-1)
        lprobs = utils.log_softmax(self.decoder.step(inputs), dim=-1)
        lprobs[:, o.pad] = -math.inf
        self._limit_lengths(lprobs, steps)
        top_lprobs, top_tokens = row_candidates(lprobs, beam)
        top_lprobs, top_tokens = top_lprobs[rows], top_tokens[rows]
        totals = (top_lprobs + self.totals[:, None]).view(len(self.tags), -1)
        cand_scores, cand_indices, cand_beams = best_candidates(totals, top_tokens, 2 * beam)
        eos_mask = eos_candidates(cand_scores, cand_indices, self.cands_to_ignore, o.eos)
        done = self._finalize_eos(steps, offsets, cand_beams, cand_scores, eos_mask)
        finished = [Finished(self.tags[i], best_first(self.finalized[i]), self.max_lens[i])
                    for i in done]
        if done:
            order = _without(done, len(self.tags))
            if not order:
                self._reset()
                return finished
            kept = torch.tensor(order, device=self.device)
            eos_mask, cand_beams = eos_mask[kept], cand_beams[kept]
            cand_scores, cand_indices = cand_scores[kept], cand_indices[kept]
            steps = steps[kept]
            self._drop(kept)
        self._extend(steps, cand_scores, cand_indices, cand_beams, eos_mask)
        return finished

    def _offsets(self) -> Tensor:
        """The first beam row of each live sentence, as a column."""
        return torch.arange(len(self.tags), device=self.device)[:, None] * self.o.beam_size

    def _limit_lengths(self, lprobs: Tensor, steps: Tensor) -> None:
        """Only EOS at a sentence's maximum length; no EOS before the minimum length."""
        o, beam = self.o, self.o.beam_size
        at_max = steps >= self.limits
        if at_max.any():
            rows = at_max.repeat_interleave(beam)
            lprobs[rows, : o.eos] = -math.inf
            lprobs[rows, o.eos + 1 :] = -math.inf
        early = steps < MIN_LEN
        if early.any():
            lprobs[early.repeat_interleave(beam), o.eos] = -math.inf

    def _finalize_eos(self, steps: Tensor, offsets: Tensor, cand_beams: Tensor,
                      cand_scores: Tensor, eos_mask: Tensor) -> list[int]:
        """Finalise the EOS candidates among each sentence's first ``beam``; the sentences
        (current indices) that are done."""
        beam = self.o.beam_size
        eos_bbsz_idx = torch.masked_select((cand_beams + offsets)[:, :beam], eos_mask[:, :beam])
        if eos_bbsz_idx.numel() == 0:
            return []
        eos_scores = torch.masked_select(cand_scores[:, :beam], eos_mask[:, :beam])
        sentences = torch.div(eos_bbsz_idx, beam, rounding_mode="trunc")
        ends = steps.index_select(0, sentences).tolist()
        sentences = sentences.tolist()
        hypotheses = ended_hypotheses(self.tokens, self.scores, eos_bbsz_idx, eos_scores, ends,
                                      self.o)
        for sent, hypothesis in zip(sentences, hypotheses, strict=True):
            if len(self.finalized[sent]) < beam:
                self.finalized[sent].append(hypothesis)
        return sorted({
            sent for sent, end in zip(sentences, ends, strict=True)
            if len(self.finalized[sent]) == beam or end == self.max_lens[sent]
        })

    def _extend(self, steps: Tensor, cand_scores: Tensor, cand_indices: Tensor,
                cand_beams: Tensor, eos_mask: Tensor) -> None:
        """Continue each sentence with its first ``beam`` candidates that are not EOS."""
        beam, bsz = self.o.beam_size, len(self.tags)
        offsets = self._offsets()
        active_hypos, self.cands_to_ignore = continuations(eos_mask, self.cands_to_ignore)
        active_bbsz_idx = torch.gather(cand_beams + offsets, 1, active_hypos).view(-1)
        history = int(steps.max()) + 1  # columns that hold a hypothesis' past, at most
        self.tokens[:, :history] = self.tokens[:, :history].index_select(0, active_bbsz_idx)
        self.scores[:, :history] = self.scores[:, :history].index_select(0, active_bbsz_idx)
        columns = steps.repeat_interleave(beam)[:, None]
        self.tokens.scatter_(1, columns + 1, torch.gather(cand_indices, 1, active_hypos)
                             .view(-1, 1))
        totals = torch.gather(cand_scores, 1, active_hypos).view(-1, 1)
        self.scores.scatter_(1, columns, totals)
        self.totals = totals.view(-1)
        parents = active_bbsz_idx.view(bsz, beam) - offsets
        slots, sources, copies = moved_slots(self.slots, parents)
        first = (steps == 0)[:, None]  # every slot of such a sentence holds the same row
        if first.any():
            slots = torch.where(first, torch.arange(beam, device=self.device), slots)
            copies &= ~first
        assert self.decoder is not None
        self.decoder.copy_rows((sources + offsets)[copies], (slots + offsets)[copies])
        self.slots = slots

    def _drop(self, kept: Tensor) -> None:
        """Keep only the sentences ``kept`` (current indices), in that order, everywhere."""
        beam, bsz = self.o.beam_size, len(self.tags)
        index = kept.tolist()
        self.tags = [self.tags[i] for i in index]
        self.finalized = [self.finalized[i] for i in index]
        self.max_lens = [self.max_lens[i] for i in index]
        self.limits = self.limits[kept]
        self.slots = self.slots[kept]
        self.cands_to_ignore = self.cands_to_ignore[kept]
        self.totals = self.totals.view(bsz, beam)[kept].view(-1)
        self.tokens = self.tokens.view(bsz, -1)[kept].view(len(index) * beam, -1)
        self.scores = self.scores.view(bsz, -1)[kept].view(len(index) * beam, -1)
        assert self.decoder is not None
        self.decoder.keep_sentences(kept)


def _without(done: list[int], count: int) -> list[int]:
    """An order of the sentences 0..count−1 but ``done``: each stays in its place, except
    that the last ones fill the places of those done (so that few move)."""
    left = count - len(done)
    gone = set(done)
    order = list(range(left))
    movers = (i for i in range(left, count) if i not in gone)
    for place, mover in zip((i for i in done if i < left), movers, strict=False):
        order[place] = mover
    return order


class ContinuousTranslation:
    """Raw lines through one ContinuousSearch of a Translator's fast beam search.

    ``add`` hands lines in (a blank one is done at once, as ``translate_batch`` has it),
    ``step`` returns the (tag, :class:`LineResult`) of the lines that finished: the results
    ``translator.translate_batch`` gives for them, alignments included.
    """

    def __init__(self, translator: Translator, alignment_layer: int | None = None) -> None:
        self.translator = translator
        self.alignment_layer = alignment_layer
        self.search = ContinuousSearch(translator.generator)
        self._ready: list[tuple[Any, LineResult]] = []

    @property
    def live(self) -> int:
        """Lines added and not yet returned."""
        return self.search.live + len(self._ready)

    def add(self, tags: Sequence[Any], lines: Sequence[str]) -> None:
        """Add ``lines``, known by ``tags``; they join the search at its next step."""
        todo = [i for i, line in enumerate(lines) if line.strip()]
        self._ready += [(tag, LineResult([])) for tag, line in zip(tags, lines, strict=True)
                        if not line.strip()]
        sources = self.translator.encode_lines([lines[i] for i in todo])
        self.search.admit([source.ids for source in sources],
                          [(tags[i], source) for i, source in zip(todo, sources, strict=True)])

    def step(self) -> list[tuple[Any, LineResult]]:
        """One search step; the lines finished since the last call, with their results."""
        done, self._ready = self._ready, []
        finished = self.search.step()
        if finished:
            sources: list[SourceLine] = [f.tag[1] for f in finished]
            results = self.translator.line_results(
                sources, [f.hypotheses for f in finished], [f.max_len for f in finished],
                self.alignment_layer)
            done += [(f.tag[0], result) for f, result in zip(finished, results, strict=True)]
        return done
