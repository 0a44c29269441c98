"""Streaming translation: buffers cut where input pauses, warnings said once and summed up."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ea_mt.decoding.buffering import buffers
from ea_mt.decoding.hypotheses import Hypothesis, LineResult
from ea_mt.decoding.options import DecodeOptions
from ea_mt.decoding.translation import translate_stream
from ea_mt.errors import UserError

if TYPE_CHECKING:
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]


class LongLinesAreCut:
    """A stand-in translator: a line with "long" in it counts as truncated."""

    max_source_pieces = 9

    def __init__(self, beam: int = 5, nbest: int = 1, vocabulary: int = 1000) -> None:
        self.options = DecodeOptions(beam=beam, nbest=nbest)
        self.tgt_dict = [None] * vocabulary

    def translate_batch(self, lines, on_batch=None, alignment_layer=None) -> list[LineResult]:
        return [LineResult([Hypothesis(line.upper(), -1.0)], truncated="long" in line)
                for line in lines]


def test_warnings_are_said_when_first_seen_and_summed_up_at_the_end() -> None:
    lines = ["long a", "b", "long c", "d", "long e", "f"]
    warnings: list[str] = []
    stats = translate_stream(LongLinesAreCut(), lines, io.BytesIO(), buffer_size=2,
                             warn=warnings.append)
    assert stats.truncated == [1, 3, 5]
    assert warnings == [
        "line 1 longer than the model's 9 source pieces: truncated to fit",
        "in all lines 1, 3, 5 longer than the model's 9 source pieces: truncated to fit "
        "(3 lines)",
    ]
    warnings.clear()
    translate_stream(LongLinesAreCut(), lines, io.BytesIO(), buffer_size=6,
                     warn=warnings.append)
    assert warnings == ["lines 1, 3, 5 longer than the model's 9 source pieces: truncated to fit"]


def test_a_beam_wider_than_the_vocabulary_is_said_once() -> None:
    warnings: list[str] = []
    translate_stream(LongLinesAreCut(beam=20, nbest=20, vocabulary=8), ["a", "b"],
                     io.BytesIO(), buffer_size=1, warn=warnings.append)
    assert warnings == ["--beam 20 is more than the target vocabulary of 8 allows: the search "
                        "keeps 7 hypotheses, so --nbest 20 gives at most 7 rows a line"]
    warnings.clear()
    translate_stream(LongLinesAreCut(beam=7, vocabulary=8), ["a"], io.BytesIO(),
                     warn=warnings.append)
    assert warnings == []


def slow_lines(gaps: list[float]):
    for number, gap in enumerate(gaps, start=1):
        time.sleep(gap)
        yield f"line {number}"


def test_a_pause_in_the_input_ends_a_buffer() -> None:
    got = list(buffers(slow_lines([0, 0, 0.5, 0]), size=10, wait=0.2))
    assert got == [["line 1", "line 2"], ["line 3", "line 4"]]
    assert list(buffers(slow_lines([0, 0, 0.5, 0]), size=10)) == [
        ["line 1", "line 2", "line 3", "line 4"]]
    assert list(buffers(iter(["a", "b", "c"]), size=2, wait=5)) == [["a", "b"], ["c"]]


def test_a_reading_error_comes_after_the_lines_before_it() -> None:
    def failing():
        yield "a"
        raise UserError("line 2 is not UTF-8")

    stream = buffers(failing(), size=10, wait=0.2)
    assert next(stream) == ["a"]
    with pytest.raises(UserError, match="line 2 is not UTF-8"):
        next(stream)


@pytest.mark.slow
def test_translate_answers_each_line_as_it_arrives(trained_model: TrainedModel) -> None:
    command = [str(Path(sys.executable).parent / "ea-mt"), "translate", "-q", "--threads", "1",
               "-w", str(trained_model.workdir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                          stderr=subprocess.DEVNULL) as process:
        assert process.stdin is not None and process.stdout is not None
        answered = threading.Event()
        timer = threading.Timer(120, process.kill)  # bounded, whatever happens
        timer.start()
        try:
            process.stdin.write(b"I am here.\n")
            process.stdin.flush()
            first = process.stdout.readline()  # comes while stdin is still open
            answered.set()
            process.stdin.write(b"Where is the station?\n")
            process.stdin.close()
            rest = process.stdout.read()
        finally:
            timer.cancel()
    assert process.returncode == 0 and answered.is_set()
    assert first.strip() and len(rest.splitlines()) == 1
