"""The trained models that ship with ea-mt (data/models, issue 15): small, weights only,
licensed, and usable by their short names from a directory without a work directory —
``ea-mt translate``, ``ea-mt inspect``, the Python API — translating real Tatoeba test
sentences as well as a trained model should (``ea-mt serve``: tests/test_serve.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import BUNDLED_SAMPLE
from typer.testing import CliRunner

from ea_mt.bundled import bundled_models
from ea_mt.cli.main import app
from ea_mt.decoding.scoring import score_lines
from ea_mt.decoding.translation import Translator
from ea_mt.devices import torch_threads
from ea_mt.training.averaging import read_checkpoint_state

SHIPPED = {"tatoeba-en-de-ea": "ea_transformer_tiny", "tatoeba-en-de-vanilla": "transformer_tiny"}
MAX_BYTES = 10_000_000  # issue 15: each well under 10 MB
LINES = 200  # of the bundled sample of the public test split, which training never saw
# A trained model scores far above this on Tatoeba test sentences (data/models/README.md);
# an untrained or mis-loaded one scores near 0.
MIN_BLEU = 30.0


def test_sentences(count: int = LINES) -> tuple[list[str], list[str]]:
    source = (BUNDLED_SAMPLE / "test.en").read_text(encoding="utf-8").splitlines()[:count]
    reference = (BUNDLED_SAMPLE / "test.de").read_text(encoding="utf-8").splitlines()[:count]
    return source, reference


test_sentences.__test__ = False  # a helper, not a test


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_model_is_a_small_licensed_model_directory_of_weights_only(name: str) -> None:
    folder = bundled_models()[name]
    manifest = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert (manifest["arch"], manifest["src"], manifest["tgt"]) == (SHIPPED[name], "en", "de")
    assert manifest["weights"] in ("fp16", "fp32")
    assert {p.name for p in folder.iterdir()} == {
        "checkpoint_best.pt", "model.json", "spm.model", "dict.en.txt", "dict.de.txt",
        "README.md"}
    assert sum(p.stat().st_size for p in folder.iterdir()) < MAX_BYTES
    state = read_checkpoint_state(folder / "checkpoint_best.pt")
    assert state["last_optimizer_state"] is None
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for needed in ("CC BY 2.0", "tatoeba.org", "manythings.org/anki", "Trained with"):
        assert needed in readme, needed


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_model_translates_by_its_short_name_from_anywhere(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no work directory here
    source, reference = test_sentences()
    result = CliRunner().invoke(app, ["translate", "--checkpoint", name, "--threads", "1", "-q"],
                                input="".join(f"{line}\n" for line in source))
    assert result.exit_code == 0, result.stderr
    hypotheses = result.stdout.splitlines()
    assert len(hypotheses) == len(source)
    bleu = score_lines(hypotheses, [reference], ["bleu"])[0].score
    assert bleu >= MIN_BLEU, f"{name}: BLEU {bleu:.2f} on {len(source)} test lines"
    with torch_threads(1):
        assert Translator.load(name, device="cpu").translate(source[:20]) == hypotheses[:20]


@pytest.mark.slow
def test_the_shipped_models_are_inspected_side_by_side_by_their_short_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["inspect", "Where is the station?", "--checkpoint",
                                      "tatoeba-en-de-ea", "--compare", "tatoeba-en-de-vanilla",
                                      "-o", "out"])
    assert result.exit_code == 0, result.stderr
    written = {Path(line).name for line in result.stdout.splitlines()}
    assert written == {"encoder-self.png", "decoder-self.png", "cross.png", "attention.json"}
    report = json.loads((tmp_path / "out" / "attention.json").read_text(encoding="utf-8"))
    assert (report["format"], report["source"]) == ("ea-mt-inspect", "Where is the station?")
    assert report["target"] and report["target_origin"] == "beam search (beam 5)"
    assert [m["arch"] for m in report["models"]] == [SHIPPED["tatoeba-en-de-ea"],
                                                    SHIPPED["tatoeba-en-de-vanilla"]]
