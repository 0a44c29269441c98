"""The Python API as the README shows it: the example runs exactly as written."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

from ea_mt.decoding.translation import Translator
from ea_mt.devices import thread_env

if TYPE_CHECKING:
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]
pytestmark = pytest.mark.slow  # a trained model
README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)


def test_the_readme_example_runs_as_written(tmp_path: Path) -> None:
    """In a directory without a work directory: the example uses the bundled EA model.

    The example runs with this process's torch thread count, so that both compute the same
    floats (another count changes the last bits, and a score can round the other way).
    """
    env = {**os.environ, **thread_env(torch.get_num_threads())}
    run = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    first, *hypotheses = run.stdout.splitlines()
    direct = Translator.load("tatoeba-en-de-ea")
    lines = ["Where is the station?", "I would like a cup of tea."]
    assert ast.literal_eval(first) == direct.translate(lines)
    two_best = direct.with_options(beam=4, nbest=2).translate_batch(lines[:1], alignment_layer=0)
    assert hypotheses == [f"{h.score:.3f}  {h.text}  ({h.alignment})"
                          for h in two_best[0].hypotheses]
    assert len(hypotheses) == 2 and all(re.search(r"\(\d+-\d+", h) for h in hypotheses)


def test_load_takes_a_work_directory_a_model_directory_or_a_checkpoint(
    trained_model: TrainedModel,
) -> None:
    sentences = ["I am here.", "", "Where is the station?"]
    by_workdir = Translator.load(trained_model.workdir)
    expected = by_workdir.translate(sentences)
    assert expected[1] == "" and all(expected[::2])
    for source in (trained_model.model_dir, by_workdir.files.checkpoint):
        assert Translator.load(source).translate(sentences) == expected


def test_with_options_shares_the_weights_and_changes_only_the_search(
    trained_model: TrainedModel,
) -> None:
    translator = Translator.load(trained_model.workdir)
    assert translator.with_options(beam=translator.options.beam) is translator
    wider = translator.with_options(beam=3, nbest=3)
    assert wider.model is translator.model and wider.sp is translator.sp
    assert (translator.options.beam, translator.options.nbest) == (5, 1)
    (result,) = wider.translate_batch(["Where is the station?"])
    assert len(result.hypotheses) == 3
    assert [h.score for h in result.hypotheses] == sorted(
        (h.score for h in result.hypotheses), reverse=True)


def test_the_fast_and_fairseq_decoders_agree(trained_model: TrainedModel) -> None:
    lines = trained_model.raw.joinpath("test.en").read_text(encoding="utf-8").splitlines()[:40]
    fast = Translator.load(trained_model.workdir, nbest=2)
    fairseq = fast.with_options(decoder="fairseq")
    assert type(fast.generator).__name__ == "FastBeamSearch"
    assert type(fairseq.generator).__name__ == "SequenceGenerator"
    for mine, theirs in zip(fast.translate_batch(lines), fairseq.translate_batch(lines),
                            strict=True):
        assert [h.text for h in mine.hypotheses] == [h.text for h in theirs.hypotheses]
        assert [h.score for h in mine.hypotheses] == pytest.approx(
            [h.score for h in theirs.hypotheses], abs=1e-4)
