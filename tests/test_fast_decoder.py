"""The fast decoder: same hypotheses as fairseq's SequenceGenerator, exact scores, O(T) state."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch
from conftest import BUNDLED_SAMPLE
from fairseq.data.data_utils import collate_tokens
from fairseq.sequence_generator import SequenceGenerator
from model_helpers import build_model, random_batch

from ea_mt.decoding.beam_search import FastBeamSearch
from ea_mt.decoding.continuous import ContinuousSearch, ContinuousTranslation, continuous_reason
from ea_mt.decoding.incremental import (
    ContinuousDecoder,
    IncrementalDecoder,
    UnsupportedModel,
    unsupported_reason,
)
from ea_mt.decoding.translation import Translator
from ea_mt.devices import torch_threads

if TYPE_CHECKING:
    from conftest import FairseqTools, PreparedSample
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]

LINES = 96  # real sentences per trained model: the first test lines, then valid lines
SHIPPED = {"shipped-ea": "tatoeba-en-de-ea", "shipped-vanilla": "tatoeba-en-de-vanilla"}
TRAINED = ["vanilla", "ea", *SHIPPED]  # the tiny fixture models, then the shipped ones
BATCH = 16  # in corpus order, so every batch mixes lengths and pads its sources


def log_probs(model, src_tokens, src_lengths, prev_output_tokens) -> torch.Tensor:
    logits, _ = model(src_tokens, src_lengths, prev_output_tokens)
    return torch.log_softmax(logits.float(), dim=-1)


# -- one decoder step at a time, on untrained models of every supported shape ---------------

MODEL_VARIANTS = {
    "ea": ("ea_transformer_tiny", {}),
    "ea-k5-prenorm": ("ea_transformer_tiny", {"ea_kernel_size": 5, "decoder_normalize_before": True,
                                             "encoder_normalize_before": True}),
    "ea-cross-only": ("ea_transformer_tiny", {"ea_chains": "cross"}),
    "ea-alpha0-beta0": ("ea_transformer_tiny", {"ea_alpha": 0.0, "ea_beta": 0.0}),
    "vanilla": ("transformer_tiny", {}),
    "vanilla-learned-pos": ("transformer_tiny", {"decoder_learned_pos": True}),
    "vanilla-tied-output": ("transformer_tiny", {"share_decoder_input_output_embed": True,
                                                 "decoder_normalize_before": True}),
}


@pytest.fixture(scope="module", params=sorted(MODEL_VARIANTS))
def variant(request):
    arch, overrides = MODEL_VARIANTS[request.param]
    return build_model(arch, seed=7, **overrides)


def test_each_step_equals_the_teacher_forced_forward(variant) -> None:
    """Past the buffers' first capacity (16 positions), so their growth is covered too."""
    steps = 21
    batch = random_batch([5, 3, 7], [steps] * 3, seed=4)
    full = log_probs(variant, batch["src_tokens"], batch["src_lengths"],
                     batch["prev_output_tokens"])
    with torch.inference_mode():
        encoder_out = variant.encoder(batch["src_tokens"], src_lengths=batch["src_lengths"])
        decoder = IncrementalDecoder(variant, encoder_out, max_steps=steps)
        for t in range(steps):
            step = torch.log_softmax(decoder.step(batch["prev_output_tokens"][:, t]).float(), -1)
            torch.testing.assert_close(step, full[:, t], rtol=1e-5, atol=1e-5)


def test_moved_and_dropped_slots_keep_their_histories() -> None:
    """Slots copied into others and sentences dropped decode as their own prefixes."""
    model = build_model("ea_transformer_tiny", seed=3)
    batch = random_batch([6, 4, 5], [9] * 3, seed=8)
    prefixes = batch["prev_output_tokens"]  # one per sentence; slot 1 gets a variant
    variant = prefixes.clone()
    variant[:, 2:] = torch.roll(prefixes[:, 2:], 1, dims=0)
    with torch.inference_mode():
        encoder_out = model.encoder(batch["src_tokens"], src_lengths=batch["src_lengths"])
        decoder = IncrementalDecoder(model, encoder_out, max_steps=9)
        decoder.step(prefixes[:, 0])
        decoder.expand(2)  # slots: (s0, s0'), (s1, s1'), (s2, s2')
        for t in range(1, 5):
            decoder.step(torch.stack([prefixes[:, t], variant[:, t]], 1).view(-1))
        # slot 1 of sentences 0 and 2 takes slot 0's history; sentence 1 leaves
        decoder.copy_rows(torch.tensor([0, 4]), torch.tensor([1, 5]))
        decoder.keep_sentences(torch.tensor([0, 2]))
        kept = [0, 2]
        for t in range(5, 9):
            logits = decoder.step(prefixes[kept, t].repeat_interleave(2))
    expected = log_probs(model, batch["src_tokens"][kept], batch["src_lengths"][kept],
                         prefixes[kept])[:, -1]
    got = torch.log_softmax(logits.float(), -1)
    torch.testing.assert_close(got, expected.repeat_interleave(2, 0), rtol=1e-5, atol=1e-5)


def test_the_kept_evolving_attention_state_grows_by_one_column_per_step() -> None:
    model = build_model("ea_transformer_tiny", seed=3)
    batch = random_batch([5, 7], [40, 40], seed=5)
    with torch.inference_mode():
        encoder_out = model.encoder(batch["src_tokens"], src_lengths=batch["src_lengths"])
        decoder = IncrementalDecoder(model, encoder_out, max_steps=40)
        for t in range(40):
            decoder.step(batch["prev_output_tokens"][:, t])
            for cache in decoder.caches:
                assert cache.self_key.size(2) <= max(16, 2 * (t + 1))
                if cache.self_rows is not None:  # the k − 1 = 2 last rows of M only
                    assert cache.self_rows.shape[2:] == (2, cache.self_key.size(2))
                    assert cache.cross_rows.shape[2:] == (2, 7)
    assert any(cache.self_rows is not None for cache in decoder.caches)


def test_models_the_fast_decoder_cannot_run_say_why() -> None:
    model = build_model("transformer_tiny", seed=1, cross_self_attention=True)
    assert unsupported_reason(model) == "cross-self-attention"
    with pytest.raises(UnsupportedModel, match="cross-self-attention"):
        FastBeamSearch(model, model.decoder.dictionary, beam_size=2).search(
            torch.tensor([[4, 5, 2]]), torch.tensor([3]))
    assert unsupported_reason(build_model("ea_transformer_tiny")) is None


def test_search_on_an_untrained_ea_model_matches_sequence_generator() -> None:
    """Random weights: flat distributions and many maximum-length hypotheses."""
    model = build_model("ea_transformer_tiny", seed=11)
    batch = random_batch([5, 3, 7, 2], [1] * 4, seed=12)
    sample = {"net_input": {"src_tokens": batch["src_tokens"],
                            "src_lengths": batch["src_lengths"]}}
    dictionary = model.decoder.dictionary
    for beam, lenpen in ((5, 1.0), (3, 0.5), (1, 1.0)):
        ref = SequenceGenerator([model], dictionary, beam_size=beam, max_len_b=12,
                                len_penalty=lenpen).generate([model], sample)
        fast = FastBeamSearch(model, dictionary, beam_size=beam, max_len_b=12,
                              len_penalty=lenpen).generate([model], sample)
        assert same_hypotheses(ref, fast) == len(ref)


# -- real trained models --------------------------------------------------------------------


def same_hypotheses(reference, fast, atol: float = 1e-4) -> int:
    """Sentences whose n-best lists agree: same tokens in the same order, scores within atol."""
    same = 0
    for ref, got in zip(reference, fast, strict=True):
        tokens = [h["tokens"].tolist() for h in ref] == [h["tokens"].tolist() for h in got]
        scores = all(abs(float(a["score"]) - float(b["score"])) <= atol
                     for a, b in zip(ref, got, strict=True))
        same += tokens and scores
    return same


def real_lines(raw: Path) -> list[str]:
    """LINES real English sentences of a model's test split, then its valid split."""
    lines = (raw / "test.en").read_text(encoding="utf-8").splitlines()
    lines += (raw / "valid.en").read_text(encoding="utf-8").splitlines()
    return lines[:LINES]


def real_batches(translator: Translator, raw: Path):
    """Samples of BATCH real sentences, left-padded as the Translator collates them."""
    lines = real_lines(raw)
    pieces = translator.sp.encode(lines, out_type=str)
    sources = [torch.tensor([translator.src_dict.index(p) for p in ps[:100]]
                            + [translator.src_dict.eos()]) for ps in pieces]
    for start in range(0, len(sources), BATCH):
        chunk = sources[start : start + BATCH]
        yield {"net_input": {
            "src_tokens": collate_tokens(chunk, translator.src_dict.pad(), left_pad=True),
            "src_lengths": torch.tensor([len(s) for s in chunk]),
        }}


@pytest.fixture(scope="module")
def ea_trained_model(
    tmp_path_factory: pytest.TempPathFactory,
    small_sample: PreparedSample,
    fairseq_tools: FairseqTools,
) -> TrainedModel:
    """An ``ea_transformer_tiny`` trained as long as the vanilla ``trained_model`` (300
    updates), so that its beams hold real competing translations (``ea_model``'s 30 updates
    translate every line as ".")."""
    from model_fixture import MAX_POSITIONS, TrainedModel, make_model_dir  # a plugin: loaded

    workdir = tmp_path_factory.mktemp("ea_trained_model")
    fairseq_tools.train(
        small_sample.data_bin,
        workdir / "checkpoints",
        300,
        "--max-source-positions", str(MAX_POSITIONS),
        "--max-target-positions", str(MAX_POSITIONS),
        "--skip-invalid-size-inputs-valid-test",
    )  # fmt: skip
    make_model_dir(workdir / "checkpoints", small_sample, "ea_transformer_tiny")
    return TrainedModel(workdir=workdir, raw=small_sample.raw, max_positions=MAX_POSITIONS)


@pytest.fixture(scope="module")
def trained(trained_model: TrainedModel, ea_trained_model: TrainedModel):
    """Each trained model, loaded once per module, and the folder of its real sentences:
    the tiny vanilla and EA fixtures, and the shipped Tatoeba models (data/models) on the
    bundled sample of the test and valid splits they never saw."""
    models = {name: (Translator.load(checkpoint=model.model_dir, device="cpu"), model.raw)
              for name, model in (("vanilla", trained_model), ("ea", ea_trained_model))}
    for name, short_name in SHIPPED.items():
        models[name] = (Translator.load(short_name, device="cpu"), BUNDLED_SAMPLE)
    return models


SETTINGS = {  # beam, lenpen, max_len_a, max_len_b
    "beam5": (5, 1.0, 0.0, 200),
    "greedy": (1, 1.0, 0.0, 200),
    "beam4-lenpen0.6": (4, 0.6, 0.0, 200),
    "beam5-lenpen1.5": (5, 1.5, 0.0, 200),
    "beam3-max-len": (3, 1.0, 0.1, 2),
}


# Every setting on the tiny models; on the shipped ones (slower) the three that differ most.
SEARCHES = [(name, setting) for name in TRAINED for setting in sorted(SETTINGS)
            if name not in SHIPPED or setting in ("beam5", "greedy", "beam3-max-len")]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "setting"), SEARCHES)
def test_fast_search_gives_sequence_generators_hypotheses(trained, name: str, setting: str):
    translator, raw = trained[name]
    beam, lenpen, max_len_a, max_len_b = SETTINGS[setting]
    options = {"beam_size": beam, "len_penalty": lenpen, "max_len_a": max_len_a,
               "max_len_b": max_len_b}
    fairseq = SequenceGenerator([translator.model], translator.tgt_dict, **options)
    fast = FastBeamSearch(translator.model, translator.tgt_dict, **options)
    same = total = longest = 0
    for sample in real_batches(translator, raw):
        reference = fairseq.generate([translator.model], sample)
        hypotheses = fast.generate([translator.model], sample)
        same += same_hypotheses(reference, hypotheses)
        total += len(reference)
        width = sample["net_input"]["src_tokens"].size(1)
        limit = int(max_len_a * width + max_len_b)
        lengths = [len(h["tokens"]) - 1 for nbest in hypotheses for h in nbest]
        assert max(lengths) <= limit
        longest += max(lengths) == limit
        assert all(len(nbest) == beam for nbest in hypotheses)
    assert total == LINES
    assert same >= 0.99 * total, f"{same}/{total} lines agree"
    if setting == "beam3-max-len":
        assert longest, "no hypothesis reached the maximum length"


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINED)
def test_fast_scores_equal_a_teacher_forced_rescoring(trained, name: str) -> None:
    translator, raw = trained[name]
    lenpen = 0.8
    fast = FastBeamSearch(translator.model, translator.tgt_dict, beam_size=4, len_penalty=lenpen)
    eos = translator.tgt_dict.eos()
    checked = 0
    for sample in real_batches(translator, raw):
        hypotheses = fast.generate([translator.model], sample)
        src_tokens = sample["net_input"]["src_tokens"]
        src_lengths = sample["net_input"]["src_lengths"]
        for row, nbest in enumerate(hypotheses):
            src = src_tokens[row : row + 1, src_tokens.size(1) - int(src_lengths[row]) :]
            for hyp in nbest:
                tokens = hyp["tokens"]
                prev = torch.cat([torch.tensor([eos]), tokens[:-1]])[None]
                with torch.inference_mode():
                    rescored = log_probs(translator.model, src, src_lengths[row : row + 1], prev)
                gathered = rescored[0].gather(-1, tokens[:, None])[:, 0]
                torch.testing.assert_close(hyp["positional_scores"], gathered,
                                           rtol=0, atol=1e-4)
                expected = gathered.sum() / len(tokens) ** lenpen
                assert abs(float(hyp["score"]) - float(expected)) <= 1e-4
                checked += 1
    assert checked == 4 * LINES


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vanilla", "ea", "shipped-ea"])
def test_bf16_runs_and_stays_close_to_fp32_and_to_fairseq_in_bf16(trained, name: str) -> None:
    """bf16 keeps ~3 significant digits, so near-ties flip: agreement is high, not total."""
    translator, raw = trained[name]
    bf16 = copy.deepcopy(translator.model).to(torch.bfloat16)
    fp32 = FastBeamSearch(translator.model, translator.tgt_dict, beam_size=5)
    half = FastBeamSearch(bf16, translator.tgt_dict, beam_size=5)
    fairseq_half = SequenceGenerator([bf16], translator.tgt_dict, beam_size=5)
    as_fp32 = as_fairseq = 0
    score_diffs = []
    for sample in real_batches(translator, raw):
        reference = fp32.generate([translator.model], sample)
        hypotheses = half.generate([bf16], sample)
        fairseq_hypotheses = fairseq_half.generate([bf16], sample)
        for ref, got, other in zip(reference, hypotheses, fairseq_hypotheses, strict=True):
            assert got[0]["tokens"][-1] == translator.tgt_dict.eos()
            assert torch.isfinite(got[0]["positional_scores"]).all()
            as_fp32 += ref[0]["tokens"].tolist() == got[0]["tokens"].tolist()
            as_fairseq += other[0]["tokens"].tolist() == got[0]["tokens"].tolist()
            score_diffs.append(abs(float(ref[0]["score"]) - float(got[0]["score"])))
    assert as_fp32 >= 0.7 * LINES, f"bf16 kept only {as_fp32}/{LINES} fp32 best hypotheses"
    assert as_fairseq >= 0.9 * LINES, f"{as_fairseq}/{LINES} as fairseq's bf16 search"
    assert sorted(score_diffs)[LINES // 2] < 0.02
    assert max(score_diffs) < 0.5


# -- continuous batching: sentences joining a running search ---------------------------------


def test_rows_at_their_own_positions_equal_the_teacher_forced_forward(variant) -> None:
    """Sentences join a ContinuousDecoder at different steps (a longer source later, so the
    source width grows; the longest leaves first, so it shrinks; one runs past the buffers'
    first 16 positions) and leave at different steps: every row's step equals its
    sentence's teacher-forced forward alone."""
    sources, targets, joins = [5, 3, 12, 4, 6], [9, 5, 6, 20, 4], [0, 0, 2, 4, 4]
    batch = random_batch(sources, targets, seed=9)
    width = batch["src_tokens"].size(1)
    src = [batch["src_tokens"][i, width - n :] for i, n in enumerate(sources)]
    prev = [batch["prev_output_tokens"][i, :n] for i, n in enumerate(targets)]
    full = [log_probs(variant, s[None], torch.tensor([len(s)]), p[None])[0]
            for s, p in zip(src, prev, strict=True)]
    group, decoder, live, checked = 2, None, [], 0
    with torch.inference_mode():
        for step in range(max(j + n for j, n in zip(joins, targets, strict=True))):
            joining = [i for i, j in enumerate(joins) if j == step]
            if joining:
                chunk = [src[i] for i in joining]
                encoder_out = variant.encoder(collate_tokens(chunk, 1, left_pad=True),
                                              src_lengths=torch.tensor([len(s) for s in chunk]))
                if decoder is None:
                    decoder = ContinuousDecoder(variant, encoder_out, max_steps=24, group=group)
                else:
                    decoder.admit(encoder_out)
                live += joining
            positions = decoder.lengths.tolist()
            tokens = torch.stack([prev[i][t] for i, t in zip(live, positions, strict=True)])
            logits = decoder.step(tokens.repeat_interleave(group))
            got = torch.log_softmax(logits.float(), -1).view(len(live), group, -1)
            for row, (i, t) in enumerate(zip(live, positions, strict=True)):
                torch.testing.assert_close(got[row], full[i][t].expand(group, -1),
                                           rtol=1e-5, atol=1e-5)
                checked += 1
            order = [k for k, i in enumerate(live) if positions[k] + 1 < targets[i]][::-1]
            decoder.keep_sentences(torch.tensor(order, dtype=torch.long))  # and reversed
            live = [live[k] for k in order]
    assert checked == sum(targets) and not live


def boosted_eos(model, factor: float = 4.0):
    """An untrained model whose EOS logit varies more, so that hypotheses end at many
    different lengths, not all at the maximum."""
    with torch.no_grad():
        model.decoder.output_projection.weight[model.decoder.dictionary.eos()] *= factor
    return model


CONTINUOUS_MODELS = {
    "ea": ("ea_transformer_tiny", {}),  # all three chains, kernel 3
    "ea-k5-prenorm": MODEL_VARIANTS["ea-k5-prenorm"],
    "vanilla": ("transformer_tiny", {}),
}


def run_continuously(search: ContinuousSearch, sources: list[torch.Tensor],
                     joins: list[int]) -> dict[int, list]:
    """Each source admitted at its step of ``joins``; the hypotheses by source index."""
    finished: dict[int, list] = {}
    step = 0
    while len(finished) < len(sources):
        joining = [i for i, j in enumerate(joins) if j == step]
        search.admit([sources[i] for i in joining], joining)
        for done in search.step():
            assert done.tag not in finished
            finished[done.tag] = done.hypotheses
        step += 1
    assert search.live == 0
    return finished


def assert_same_hypotheses(got: list, expected: list) -> None:
    assert [h["tokens"].tolist() for h in got] == [h["tokens"].tolist() for h in expected]
    for a, b in zip(got, expected, strict=True):
        assert abs(float(a["score"]) - float(b["score"])) <= 1e-4
        torch.testing.assert_close(a["positional_scores"], b["positional_scores"],
                                   rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", sorted(CONTINUOUS_MODELS))
@pytest.mark.parametrize("beam", [1, 5])
def test_sentences_joining_a_running_search_get_their_hypotheses_alone(name: str,
                                                                       beam: int) -> None:
    """Joining at steps 0 to 9, a longer source later, with a length penalty and a maximum
    length from each source's own length: each sentence's n-best equals FastBeamSearch's
    and SequenceGenerator's for it alone."""
    arch, overrides = CONTINUOUS_MODELS[name]
    model = boosted_eos(build_model(arch, seed=11, **overrides))
    dictionary = model.decoder.dictionary
    options = {"beam_size": beam, "max_len_a": 0.5, "max_len_b": 4, "len_penalty": 0.7}
    lengths = [5, 3, 9, 2, 14, 4, 7, 6, 11, 3]
    joins = [0, 0, 1, 1, 3, 4, 4, 6, 9, 9]
    batch = random_batch(lengths, [1] * len(lengths), seed=3)
    width = batch["src_tokens"].size(1)
    sources = [batch["src_tokens"][i, width - n :] for i, n in enumerate(lengths)]
    fast = FastBeamSearch(model, dictionary, **options)
    got = run_continuously(ContinuousSearch(fast), sources, joins)
    fairseq = SequenceGenerator([model], dictionary, **options)
    ends = set()
    for i, source in enumerate(sources):
        sample = {"net_input": {"src_tokens": source[None],
                                "src_lengths": torch.tensor([len(source)])}}
        alone = fast.generate([model], sample)[0]
        assert_same_hypotheses(got[i], alone)
        assert_same_hypotheses(got[i], fairseq.generate([model], sample)[0])
        ends |= {len(h["tokens"]) for h in alone}
    assert len(ends) >= 4, ends  # hypotheses of many lengths, some at their own maximum


def test_a_continuous_search_equals_a_static_batch_of_the_same_sentences() -> None:
    """Without max_len_a a static batch gives every sentence its own limit too: the same
    hypotheses, whichever sentences share the steps."""
    model = boosted_eos(build_model("ea_transformer_tiny", seed=5))
    fast = FastBeamSearch(model, model.decoder.dictionary, beam_size=4, max_len_b=10)
    lengths = [6, 2, 8, 3, 5, 9, 4]
    batch = random_batch(lengths, [1] * len(lengths), seed=21)
    width = batch["src_tokens"].size(1)
    sources = [batch["src_tokens"][i, width - n :] for i, n in enumerate(lengths)]
    static = fast.generate([model], {"net_input": {"src_tokens": batch["src_tokens"],
                                                   "src_lengths": batch["src_lengths"]}})
    for joins in ([0] * 7, [0, 2, 2, 3, 7, 8, 8], [5, 4, 3, 2, 1, 0, 0]):
        got = run_continuously(ContinuousSearch(fast), sources, joins)
        for i in range(len(sources)):
            assert_same_hypotheses(got[i], static[i])


def test_the_continuous_search_refuses_what_it_cannot_run_exactly() -> None:
    model = build_model("ea_transformer_tiny", seed=1)
    small = FastBeamSearch(model, model.decoder.dictionary, beam_size=30)
    assert continuous_reason(small) == "a target vocabulary smaller than twice the beam"
    with pytest.raises(ValueError, match="smaller than twice the beam"):
        ContinuousSearch(small)
    assert continuous_reason(FastBeamSearch(model, model.decoder.dictionary, beam_size=5)) is None
    assert continuous_reason(SequenceGenerator([model], model.decoder.dictionary)) is not None


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vanilla", "ea"])
@pytest.mark.parametrize("beam", [5, 1])
def test_lines_joining_a_continuous_translation_get_translate_batchs_results(
    trained, name: str, beam: int
) -> None:
    """Real lines joining at random steps, at most twelve at a time: the LineResults of
    ``translate_batch`` (n-best, alignments, flags; scores to 1e-4), line for line."""
    with torch_threads(1):  # torch's own choice crawls on a loaded machine
        joining_lines_against_translate_batch(*trained[name], beam)


def joining_lines_against_translate_batch(translator: Translator, raw: Path, beam: int) -> None:
    translator = translator.with_options(beam=beam, nbest=min(beam, 2))
    lines = real_lines(raw)
    lines[3:3] = ["", " ".join(["the house is big"] * 40)]  # blank; cut to the model's limit
    expected = translator.translate_batch(lines, alignment_layer=1)
    continuous = ContinuousTranslation(translator, alignment_layer=1)
    rng = random.Random(beam)
    pending, got = list(range(len(lines))), {}
    while pending or continuous.live:
        count = min(rng.randint(0, 4), 12 - continuous.live, len(pending))
        continuous.add(pending[:count], [lines[i] for i in pending[:count]])
        pending = pending[count:]
        for index, result in continuous.step():
            assert index not in got
            got[index] = result
    assert expected[4].truncated and not expected[3].hypotheses
    for index, result in enumerate(expected):
        mine = got[index]
        assert (mine.truncated, mine.hit_max_len) == (result.truncated, result.hit_max_len)
        assert [(h.text, h.tokens, h.alignment) for h in mine.hypotheses] == [
            (h.text, h.tokens, h.alignment) for h in result.hypotheses], lines[index]
        for a, b in zip(mine.hypotheses, result.hypotheses, strict=True):
            assert abs(a.score - b.score) <= 1e-4
