"""``ea-mt translate --print-alignment``: word alignments from a decoder layer's cross attention."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest
from test_cli_translate import ok, one_line_error, translate

from ea_mt.decoding.translation import Translator
from ea_mt.inspection.capture import teacher_forced_maps

if TYPE_CHECKING:
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]
pytestmark = pytest.mark.slow  # every test here needs a trained model

SEPARATOR = " ||| "


def sentences(model: TrainedModel, count: int) -> list[str]:
    return (model.raw / "test.en").read_text(encoding="utf-8").splitlines()[:count]


def parse(alignment: str) -> list[tuple[int, int]]:
    return [tuple(map(int, pair.split("-"))) for pair in alignment.split()]  # type: ignore[misc]


def test_one_line_per_input_line_with_valid_word_pairs(trained_model: TrainedModel) -> None:
    lines = ["", *sentences(trained_model, 4), "   ", ""]
    stdin = "".join(f"{s}\n" for s in lines).encode()
    plain = ok(translate(trained_model, "-q", stdin=stdin))
    aligned = ok(translate(trained_model, "-q", "--print-alignment", stdin=stdin))

    assert len(aligned) == len(lines)
    for line, text, out in zip(lines, plain, aligned, strict=True):
        if not line.strip():
            assert out == ""
            continue
        translation, alignment = out.split(SEPARATOR)
        assert translation == text
        pairs = parse(alignment)
        assert pairs, out
        assert all(0 <= s < len(line.split()) and 0 <= t < len(text.split()) for s, t in pairs)
        assert pairs == sorted(set(pairs), key=lambda pair: (pair[1], pair[0]))


def test_nbest_tsv_gets_an_alignment_column(trained_model: TrainedModel) -> None:
    stdin = f"{sentences(trained_model, 1)[0]}\n\n".encode()
    plain = ok(translate(trained_model, "-q", "--nbest", "2", stdin=stdin))
    aligned = ok(translate(trained_model, "-q", "--nbest", "2", "--print-alignment", stdin=stdin))

    assert [row.rsplit("\t", 1)[0] for row in aligned] == plain
    assert aligned[-1] == "2\t1\t\t\t"
    for row in aligned[:2]:
        hypothesis, alignment = row.split("\t")[3:]
        assert all(t < len(hypothesis.split()) for _, t in parse(alignment))


def word_numbers(pieces: Sequence[str]) -> list[int | None]:
    """Words by SentencePiece's rule: ▁ starts one; a bare ▁ belongs to none."""
    numbers: list[int | None] = []
    word, starts = -1, True
    for piece in pieces:
        starts = starts or piece.startswith("▁")
        if piece == "▁":
            numbers.append(None)
            continue
        word += starts
        starts = False
        numbers.append(word)
    return numbers


def expected_alignment(translator: Translator, line: str, tokens: Sequence[int], layer: int) -> str:
    """Argmax over the head-averaged cross attention of ``layer``, read by the inspection hooks."""
    eos = translator.tgt_dict.eos()
    src_pieces = translator.sp.encode(line, out_type=str)
    tgt_pieces = [translator.tgt_dict[t] for t in tokens[:-1]]
    source_ids = [translator.src_dict.index(p) for p in src_pieces] + [eos]
    maps = teacher_forced_maps(translator.model, source_ids, list(tokens), eos)
    weights = maps["cross"][layer]["weights"].mean(dim=0)[:-1, :-1]  # no </s> row or column
    src_words, tgt_words = word_numbers(src_pieces), word_numbers(tgt_pieces)
    pairs = {(src_words[int(row.argmax())], tgt_words[t]) for t, row in enumerate(weights)}
    pairs = {(s, t) for s, t in pairs if s is not None and t is not None}
    return " ".join(f"{s}-{t}" for s, t in sorted(pairs, key=lambda pair: (pair[1], pair[0])))


@pytest.mark.parametrize("layer", [None, 0])
def test_alignment_is_the_argmax_of_the_chosen_layer(ea_model: TrainedModel, layer: int | None):
    lines = [
        "Tom is my friend.",
        "I like to read books in the garden.",
        "Where is the station?",
    ]
    args = ["-q", "--max-len-b", "20", "--print-alignment"]
    if layer is not None:
        args += ["--alignment-layer", str(layer)]
    out = ok(translate(ea_model, *args, stdin="".join(f"{s}\n" for s in lines).encode()))

    translator = Translator.load(ea_model.workdir, device="cpu", max_len_b=20)
    chosen = len(translator.model.decoder.layers) - 1 if layer is None else layer
    for line, result, row in zip(lines, translator.translate_batch(lines), out, strict=True):
        hyp = result.hypotheses[0]
        expected = expected_alignment(translator, line, hyp.tokens, chosen)
        assert row == f"{hyp.text}{SEPARATOR}{expected}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--print-alignment", "--alignment-layer", "2"], "decoder has layers 0 to 1"),
        (["--print-alignment", "--alignment-layer", "-1"], "--alignment-layer -1"),
        (["--alignment-layer", "0"], "--alignment-layer needs --print-alignment"),
    ],
)
def test_alignment_layer_errors(trained_model: TrainedModel, args: list[str], message: str):
    assert message in one_line_error(translate(trained_model, *args, stdin=b"Hello.\n"))
