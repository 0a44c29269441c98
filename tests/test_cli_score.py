"""``ea-mt score``: the numbers sacrebleu gives on the same files, and clear errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sacrebleu.metrics import BLEU, CHRF, TER
from typer.testing import CliRunner, Result

from ea_mt.cli.main import app
from ea_mt.decoding.scoring import score_files

REFERENCE = Path(__file__).resolve().parent.parent / "data" / "tatoeba-en-de" / "test.de"
SACREBLEU = str(Path(sys.executable).parent / "sacrebleu")


def _degrade(lines: list[str], every: int) -> list[str]:
    """A deterministic imperfect 'system': drop every ``every``-th word, swap some lines."""
    out = [" ".join(w for i, w in enumerate(line.split()) if i % every != 1) for line in lines]
    for i in range(0, len(out) - 1, 9):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first 200 bundled German test sentences, a second reference and two systems."""
    root = tmp_path_factory.mktemp("score")
    ref = REFERENCE.read_text(encoding="utf-8").splitlines()[:200]
    texts = {
        "ref": ref,
        "ref2": [line.replace(".", " .") for line in ref],
        "hyp": _degrade(ref, 4),
        "base": _degrade(ref, 2),
    }
    paths = {}
    for name, lines in texts.items():
        paths[name] = root / f"{name}.txt"
        paths[name].write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return paths


def score(*args: str | Path, stdin: bytes = b"") -> Result:
    return CliRunner().invoke(app, ["score", *map(str, args)], input=stdin)


def scores_json(*args: str | Path, stdin: bytes = b"") -> dict:
    result = score(*args, "--json", stdin=stdin)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("ea-mt: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_scores_equal_sacrebleu_api_and_command(files: dict[str, Path]) -> None:
    report = scores_json("--ref", files["ref"], "--hyp", files["hyp"], "-m", "bleu", "chrf", "ter")
    hyps, refs = _lines(files["hyp"]), [_lines(files["ref"])]
    for entry, metric in zip(report["scores"], (BLEU(), CHRF(), TER()), strict=True):
        expected = metric.corpus_score(hyps, refs)
        assert (entry["metric"], entry["score"]) == (expected.name, expected.score)
        assert entry["signature"] == str(metric.get_signature())
    command = [SACREBLEU, str(files["ref"]), "-i", str(files["hyp"]), "-m", "bleu", "chrf", "ter"]
    proc = subprocess.run([*command, "-b", "-w", "4"], capture_output=True, text=True, check=True)
    assert [float(x) for x in re.findall(r"[\d.]+", proc.stdout)] == [
        round(entry["score"], 4) for entry in report["scores"]
    ]


def test_several_references(files: dict[str, Path]) -> None:
    report = scores_json(
        "--ref", files["ref"], "--ref", files["ref2"], "--hyp", files["hyp"], "-m", "bleu"
    )
    expected = BLEU().corpus_score(
        _lines(files["hyp"]), [_lines(files["ref"]), _lines(files["ref2"])]
    )
    assert report["scores"][0]["score"] == expected.score
    assert report["scores"][0]["signature"].startswith("nrefs:2|")
    assert report["refs"] == [str(files["ref"]), str(files["ref2"])]


def test_hypotheses_from_stdin_with_crlf_and_trailing_spaces(files: dict[str, Path]) -> None:
    from_file = scores_json("--ref", files["ref"], "--hyp", files["hyp"])
    crlf = "".join(f"{line}  \r\n" for line in _lines(files["hyp"])).encode()
    from_stdin = scores_json("--ref", files["ref"], stdin=crlf)
    assert [s["score"] for s in from_stdin["scores"]] == [s["score"] for s in from_file["scores"]]
    assert from_stdin["hyp"] == "-"


def test_paired_bootstrap_matches_sacrebleu(files: dict[str, Path]) -> None:
    report = scores_json(
        "--ref", files["ref"], "--hyp", files["hyp"], "--baseline", files["base"], "-m", "bleu,chrf"
    )
    assert report["bootstrap_samples"] == 1000 and report["bootstrap_seed"] == "12345"
    command = [SACREBLEU, str(files["ref"]), "-i", str(files["base"]), str(files["hyp"])]
    proc = subprocess.run(
        [*command, "-m", "bleu", "chrf", "--paired-bs", "-f", "text"],
        capture_output=True,
        text=True,
        check=True,
    )
    p_values = [float(p) for p in re.findall(r"\(p = ([\d.]+)\)", proc.stdout)]
    for entry, p_value in zip(report["scores"], p_values, strict=True):
        test = entry["significance"]
        assert round(test["p_value"], 4) == p_value
        assert "bs:1000" in test["signature"] and "seed:12345" in test["signature"]
        assert test["baseline_score"] < entry["score"]
    table = score("--ref", files["ref"], "--hyp", files["hyp"], "--baseline", files["base"])
    assert table.exit_code == 0 and "p-value" in table.stdout


def test_library_score_files(files: dict[str, Path]) -> None:
    report = score_files(files["hyp"], [files["ref"]], ["ter"])
    assert report.lines == 200 and [s.metric for s in report.scores] == ["TER"]


def test_table_on_stdout(files: dict[str, Path]) -> None:
    result = score("--ref", files["ref"], "--hyp", files["hyp"])
    assert result.exit_code == 0
    assert "BLEU" in result.stdout and "chrF2" in result.stdout and "nrefs:1|" in result.stdout


def test_line_count_mismatch(files: dict[str, Path], tmp_path: Path) -> None:
    short = tmp_path / "short.txt"
    short.write_text("".join(f"{line}\n" for line in _lines(files["hyp"])[:-1]), encoding="utf-8")
    error = one_line_error(score("--ref", files["ref"], "--hyp", short))
    assert "has 200 lines but the hypotheses" in error and "have 199" in error
    error = one_line_error(score("--ref", files["ref"], "--ref", short, "--hyp", files["hyp"]))
    assert "short.txt has 199 lines" in error


def test_empty_undecodable_and_missing(files: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert "are empty" in one_line_error(score("--ref", files["ref"], "--hyp", empty))
    assert "are empty" in one_line_error(score("--ref", files["ref"]))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nnot \xe9 utf-8\n")
    assert "bad.txt:2: invalid UTF-8" in one_line_error(score("--ref", bad, "--hyp", bad))
    missing = tmp_path / "missing.txt"
    assert "cannot read" in one_line_error(score("--ref", missing, "--hyp", files["hyp"]))
    assert "unknown metric 'meteor'" in one_line_error(
        score("--ref", files["ref"], "--hyp", files["hyp"], "-m", "meteor")
    )
