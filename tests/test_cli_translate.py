"""``ea-mt translate``: one line out per line in, in order, whatever the input holds."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from ea_mt.cli.main import app
from ea_mt.decoding.translation import Translator, translate_file, translate_stream
from ea_mt.textio import iter_lines

if TYPE_CHECKING:
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]
pytestmark = pytest.mark.slow  # every test here needs a trained model

UNICODE_LINES = [
    "I like cake. 😀🎉",
    "Ça va? Él está aquí, naïve café.",
    "你好，世界。",
    "Привет, как дела?",
    "\u200bzero\u200dwidth",
]


def translate(model: TrainedModel, *args: str, stdin: bytes = b"") -> Result:
    """Run ``ea-mt translate`` in-process on the model's work directory."""
    argv = ["translate", "--workdir", str(model.workdir), "--threads", "1", *args]
    return CliRunner().invoke(app, argv, input=stdin)


def ok(result: Result) -> list[str]:
    """The output lines of a successful run (stdout must be UTF-8, ending in a newline)."""
    assert result.exit_code == 0, result.stderr
    text = result.stdout_bytes.decode("utf-8")
    assert text == "" or text.endswith("\n")
    return text.split("\n")[:-1]


def one_line_error(result: Result) -> str:
    """The single ``ea-mt: error:`` line of a failed run (exit code 2, no traceback)."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("ea-mt: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_count_order_blank_and_unicode_lines(trained_model: TrainedModel) -> None:
    sentences = (trained_model.raw / "test.en").read_text(encoding="utf-8").splitlines()[:6]
    lines = [sentences[0], "", sentences[1], "   ", "\t", *UNICODE_LINES, sentences[2], ""]
    out = ok(translate(trained_model, "-q", stdin="".join(f"{s}\n" for s in lines).encode()))

    assert len(out) == len(lines)
    for line, hyp in zip(lines, out, strict=True):
        assert (hyp == "") == (line.strip() == ""), (line, hyp)
    alone = [ok(translate(trained_model, "-q", stdin=f"{s}\n".encode()))[0] for s in sentences[:3]]
    assert [out[0], out[2], out[10]] == alone


def test_crlf_input_and_missing_final_newline(trained_model: TrainedModel) -> None:
    lf = ok(translate(trained_model, "-q", stdin=b"Hello.\nGood night.\n"))
    crlf = translate(trained_model, "-q", stdin=b"Hello.\r\nGood night.")
    assert ok(crlf) == lf
    assert b"\r" not in crlf.stdout_bytes


def test_nul_bytes_and_control_characters(trained_model: TrainedModel) -> None:
    lines = [b"Hello.\x00", b"\x00", b"a\x00b c", b"\x01\x1c\x7f", "\x85\u2028\u2029".encode(),
             "Good\u2028night.".encode(), b"\x0b\x0c", b"I am\rhere."]
    out = ok(translate(trained_model, "-q", stdin=b"\n".join(lines) + b"\n"))
    assert len(out) == len(lines) and out[0]
    assert "\n".join(out).splitlines() == out  # no line break of any convention inside


def test_translations_never_contain_line_breaks(trained_model: TrainedModel) -> None:
    translator = Translator.load(trained_model.workdir, beam=1)
    translator.sp.decode_pieces = lambda _: "one\rtwo\u2028three\x85four\nfive"
    (result,) = translator.translate_batch(["Hello."])
    assert result.text == "one two three four five"


def test_empty_input_gives_empty_output(trained_model: TrainedModel) -> None:
    result = translate(trained_model, stdin=b"")
    assert ok(result) == [] and result.stdout_bytes == b""
    assert "translated 0 lines" in result.stderr


def test_100k_character_line(trained_model: TrainedModel) -> None:
    words = ("house", "tree", "dog", "Tom")
    huge = " ".join(words[i % 4] for i in range(25_000))[:100_000]
    assert len(huge) == 100_000
    result = translate(trained_model, stdin=f"Hello.\n{huge}\nThank you.".encode())
    out = ok(result)
    assert len(out) == 3 and all(out)
    assert "warning: line 2 longer than" in result.stderr


@pytest.fixture(scope="module")
def greedy(trained_model: TrainedModel) -> Translator:
    return Translator.load(trained_model.workdir, beam=1, max_len_b=5)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=40), max_size=8), st.booleans())
def test_any_unicode_keeps_the_line_count(greedy: Translator, lines: list[str],
                                          final_newline: bool) -> None:
    data = "\n".join(lines).encode("utf-8") + (b"\n" if final_newline and lines else b"")
    count = data.count(b"\n") + (not data.endswith(b"\n") and data != b"")
    sink = io.BytesIO()
    stats = translate_stream(greedy, iter_lines(io.BytesIO(data), "<fuzz>"), sink,
                             buffer_size=3, warn=lambda _: None)
    text = sink.getvalue().decode("utf-8")
    assert stats.lines == count == text.count("\n") == len(text.splitlines())


def test_batching_and_buffering_do_not_change_output(trained_model: TrainedModel) -> None:
    src = trained_model.raw / "test.en"
    one_by_one = ok(
        translate(trained_model, "-i", str(src), "--batch-size", "1", "--buffer-size", "1")
    )
    assert len(one_by_one) == 50
    for options in (["--batch-size", "7", "--buffer-size", "13"], ["--max-tokens", "60"], []):
        assert ok(translate(trained_model, "-i", str(src), *options)) == one_by_one, options


def test_overlong_line_is_truncated_with_a_warning(trained_model: TrainedModel) -> None:
    long_line = " ".join(["house"] * (2 * trained_model.max_positions))
    result = translate(trained_model, stdin=f"Hello.\n{long_line}\nThank you.\n".encode())
    out = ok(result)
    assert len(out) == 3 and out[1].strip()
    assert "warning: line 2 longer than" in result.stderr
    assert "truncated" in result.stderr


def test_output_cut_at_max_length_is_reported(trained_model: TrainedModel) -> None:
    result = translate(trained_model, "--max-len-b", "2", stdin=b"Hello.\n\nI am very tired.\n")
    assert len(ok(result)) == 3
    assert "warning: lines 1, 3: translation stopped at the maximum length" in result.stderr


def test_input_is_read_a_buffer_at_a_time(trained_model: TrainedModel) -> None:
    """The first translations are written before more than one buffer has been read."""
    consumed = 0

    def source() -> Iterator[str]:
        nonlocal consumed
        for _ in range(40):
            consumed += 1
            yield "Hello."

    class Sink(io.BytesIO):
        consumed_at_first_write: int | None = None

        def write(self, data: bytes) -> int:  # type: ignore[override]
            if self.consumed_at_first_write is None:
                self.consumed_at_first_write = consumed
            return super().write(data)

    sink = Sink()
    translator = Translator.load(trained_model.workdir, beam=1)
    stats = translate_stream(translator, source(), sink, buffer_size=8, warn=lambda _: None)
    assert stats.lines == 40 and sink.getvalue().count(b"\n") == 40
    assert sink.consumed_at_first_write == 8


def test_nbest_tsv(trained_model: TrainedModel) -> None:
    out = ok(translate(trained_model, "--nbest", "3", "-q", stdin=b"Hello.\n\nI am tired.\n"))
    rows = [row.split("\t") for row in out]
    assert all(len(row) == 4 for row in rows)
    assert [(r[0], r[1]) for r in rows] == [
        ("1", "1"), ("1", "2"), ("1", "3"), ("2", "1"), ("3", "1"), ("3", "2"), ("3", "3"),
    ]  # fmt: skip
    assert rows[3][2:] == ["", ""]  # the blank line: no score, no hypothesis
    scores = [float(r[2]) for r in rows if r[0] != "2"]
    assert scores[:3] == sorted(scores[:3], reverse=True)
    assert all(r[3] for r in rows if r[0] != "2")


def test_files_in_and_out(trained_model: TrainedModel, tmp_path: Path) -> None:
    out_path = tmp_path / "sub" / "hyp.de"
    result = translate(trained_model, "-i", str(trained_model.raw / "test.en"), "-o", str(out_path))
    assert ok(result) == []
    assert len(out_path.read_text(encoding="utf-8").splitlines()) == 50
    assert "translated 50 lines" in result.stderr


def test_output_must_not_overwrite_input(trained_model: TrainedModel, tmp_path: Path) -> None:
    text = tmp_path / "text.en"
    text.write_text("Hello.\n", encoding="utf-8")
    error = one_line_error(translate(trained_model, "-i", str(text), "-o", str(text)))
    assert "is both input and output" in error
    assert text.read_text(encoding="utf-8") == "Hello.\n"


def test_invalid_utf8(trained_model: TrainedModel) -> None:
    bad = b"Hello.\nbad \xff byte\n"
    assert "<stdin>:2: invalid UTF-8" in one_line_error(translate(trained_model, stdin=bad))
    replaced = ok(translate(trained_model, "--errors", "replace", "-q", stdin=bad))
    assert len(replaced) == 2


def test_library_api(trained_model: TrainedModel, tmp_path: Path) -> None:
    translator = Translator.load(trained_model.workdir, beam=2)
    results = translator.translate_batch(["Hello.", "", "I am here."])
    assert [bool(r.text) for r in results] == [True, False, True]
    out = tmp_path / "out.de"
    stats = translate_file(trained_model.raw / "test.en", out, workdir=trained_model.workdir)
    assert stats.lines == 50 and len(out.read_text(encoding="utf-8").splitlines()) == 50


def test_stdout_carries_translations_only(trained_model: TrainedModel) -> None:
    """A real process: stdout holds exactly the translations, progress goes to stderr."""
    ea_mt = Path(sys.executable).parent / "ea-mt"
    proc = subprocess.run(
        [str(ea_mt), "translate", "-w", str(trained_model.workdir), "--threads", "1"],
        input=b"Hello.\n\nGood morning.\n",
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode("utf-8").split("\n")
    assert len(out) == 4 and out[1] == "" and out[3] == "" and out[0] and out[2]
    assert b"translated 3 lines" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--src", "de"], "--src de does not match the model, which translates en->de"),
        (["--tgt", "fr"], "--tgt fr does not match"),
        (["--nbest", "6"], "--nbest 6 is larger than --beam 5"),
        (["--beam", "0"], "--beam must be at least 1"),
        (["--nbest", "0"], "--nbest must be at least 1"),
        (["--errors", "ignore"], "--errors must be one of strict, replace"),
        (["--device", "tpu"], "--device must be one of auto, cpu, cuda"),
        (["--checkpoint", "/nonexistent/model.pt"], "no such file"),
        (["-i", "/nonexistent/input.en"], "cannot read /nonexistent/input.en"),
    ],
)
def test_user_errors(trained_model: TrainedModel, args: list[str], message: str) -> None:
    assert message in one_line_error(translate(trained_model, *args, stdin=b"Hello.\n"))


def test_model_directory_problems(trained_model: TrainedModel, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    error = one_line_error(CliRunner().invoke(app, ["translate", "-w", str(empty)]))
    assert "no checkpoint_best.pt or checkpoint_last.pt" in error

    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(trained_model.model_dir / "checkpoint_best.pt", bare)
    error = one_line_error(CliRunner().invoke(app, ["translate", "--checkpoint", str(bare)]))
    assert "not an ea-mt model directory" in error

    corrupt = tmp_path / "corrupt"
    shutil.copytree(trained_model.model_dir, corrupt)
    data = (corrupt / "checkpoint_best.pt").read_bytes()
    (corrupt / "checkpoint_best.pt").write_bytes(data[: len(data) // 2])
    args = ["translate", "--checkpoint", str(corrupt / "checkpoint_best.pt")]
    assert "cannot load checkpoint" in one_line_error(CliRunner().invoke(app, args))

    other_dict = tmp_path / "other-dictionary"
    shutil.copytree(trained_model.model_dir, other_dict)
    entries = (other_dict / "dict.de.txt").read_text(encoding="utf-8").splitlines()
    (other_dict / "dict.de.txt").write_text("\n".join(entries[:-10]) + "\n", encoding="utf-8")
    args = ["translate", "--checkpoint", str(other_dict / "checkpoint_best.pt")]
    error = one_line_error(CliRunner().invoke(app, args, input=b"Hello.\n"))
    assert f"checkpoint {other_dict / 'checkpoint_best.pt'} does not fit its model directory" \
        in error


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_cuda_requested_without_cuda(trained_model: TrainedModel) -> None:
    error = one_line_error(translate(trained_model, "--device", "cuda", stdin=b"Hello.\n"))
    assert "no CUDA device" in error


def test_evolving_attention_model(ea_model: TrainedModel) -> None:
    out = ok(translate(ea_model, "-q", stdin=b"Hello.\n\nHow are you?\n"))
    assert len(out) == 3 and out[1] == ""
