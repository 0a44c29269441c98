"""Model-level guarantees: causality, batch invariance, incremental decoding, beam search."""

import pytest
import torch
from fairseq.sequence_generator import SequenceGenerator
from model_helpers import build_model, random_batch

SRC_LENGTHS = [5, 3, 7]
TGT_LENGTHS = [6, 4, 8]


def log_probs(model, batch) -> torch.Tensor:
    logits, _ = model(**batch)
    return torch.log_softmax(logits.float(), dim=-1)


@pytest.fixture(scope="module")
def model():
    return build_model("ea_transformer_tiny", seed=3)


def test_changing_later_target_tokens_leaves_earlier_log_probs_alone(model) -> None:
    batch = random_batch(SRC_LENGTHS, [8, 8, 8], seed=1)
    before = log_probs(model, batch)
    for t in range(7):
        changed = dict(batch, prev_output_tokens=batch["prev_output_tokens"].clone())
        changed["prev_output_tokens"][:, t + 1 :] = torch.randint(4, 40, (3, 7 - t))
        after = log_probs(model, changed)
        torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1], rtol=1e-5, atol=1e-5)
        assert not torch.allclose(after[:, t + 1 :], before[:, t + 1 :])


def test_a_sentence_scores_the_same_alone_and_in_a_padded_batch(model) -> None:
    batch = random_batch(SRC_LENGTHS, TGT_LENGTHS, seed=2)
    together = log_probs(model, batch)
    for row, (ls, lt) in enumerate(zip(SRC_LENGTHS, TGT_LENGTHS, strict=True)):
        src = batch["src_tokens"][row : row + 1, -ls:]
        alone = log_probs(model, {
            "src_tokens": src,
            "src_lengths": torch.tensor([ls]),
            "prev_output_tokens": batch["prev_output_tokens"][row : row + 1, :lt],
        })
        torch.testing.assert_close(alone[0], together[row, :lt], rtol=1e-5, atol=1e-5)


def test_incremental_decoding_equals_the_full_forward_at_every_step(model) -> None:
    batch = random_batch(SRC_LENGTHS, [9, 9, 9], seed=4)
    full = log_probs(model, batch)
    encoder_out = model.encoder(batch["src_tokens"], batch["src_lengths"])
    state: dict = {}
    for t in range(9):
        prefix = batch["prev_output_tokens"][:, : t + 1]
        logits, _ = model.decoder(prefix, encoder_out=encoder_out, incremental_state=state)
        step = torch.log_softmax(logits.float(), dim=-1)
        assert step.shape[1] == 1
        torch.testing.assert_close(step[:, 0], full[:, t], rtol=1e-5, atol=1e-5)


def test_a_decoding_step_keeps_only_the_last_rows_of_each_map(model) -> None:
    """The kept EA state does not grow with the number of steps beyond one column per step."""
    batch = random_batch(SRC_LENGTHS, [12, 12, 12], seed=5)
    encoder_out = model.encoder(batch["src_tokens"], batch["src_lengths"])
    state: dict = {}
    for t in range(12):
        model.decoder(batch["prev_output_tokens"][:, : t + 1], encoder_out, incremental_state=state)
    kept = {key: value["mixed_rows"].shape for key, value in state.items() if "ea_state" in key}
    assert kept, "no evolving-attention state was kept"
    for shape in kept.values():
        assert shape[2] == 2  # k − 1 rows for k = 3
        assert shape[3] in (12, max(SRC_LENGTHS))  # self: one column per step; cross: source


def test_beam_search_scores_equal_a_full_forward_rescoring(model) -> None:
    """Exercises the beam reordering of both the self and the cross chain's kept rows."""
    dictionary = model.decoder.dictionary
    batch = random_batch(SRC_LENGTHS, TGT_LENGTHS, seed=6)
    generator = SequenceGenerator([model], dictionary, beam_size=5, max_len_b=12, min_len=3)
    sample = {"net_input": {"src_tokens": batch["src_tokens"],
                            "src_lengths": batch["src_lengths"]}}
    hypotheses = generator.generate([model], sample)
    checked = 0
    for row, hyps in enumerate(hypotheses):
        src = batch["src_tokens"][row : row + 1]
        for hyp in hyps:
            tokens = hyp["tokens"]
            prev = torch.cat([torch.tensor([dictionary.eos()]), tokens[:-1]])[None]
            rescored = log_probs(model, {"src_tokens": src,
                                         "src_lengths": torch.tensor([src.size(1)]),
                                         "prev_output_tokens": prev})
            gathered = rescored[0].gather(-1, tokens[:, None])[:, 0]
            torch.testing.assert_close(gathered, hyp["positional_scores"], rtol=1e-4, atol=1e-4)
            alignment = hyp["attention"]  # what fairseq's --print-alignment reads
            assert alignment.shape == (src.size(1), len(tokens))
            torch.testing.assert_close(alignment.sum(0), torch.ones(len(tokens)))
            padding = src.size(1) - SRC_LENGTHS[row]
            assert alignment[:padding].abs().sum() == 0
            checked += 1
    assert checked == 5 * len(SRC_LENGTHS)
    assert len({tuple(h["tokens"].tolist()) for h in hypotheses[0]}) == 5
