"""The before/after benchmark (benchmarks/fast_path_ab.py) on the bundled model: every tree
is timed in its own process, from its own ea_mt, and the report says whether the
translations agree."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "data" / "models" / "tatoeba-en-de-ea"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.fast_path_ab", *args], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=600)


def test_two_trees_are_timed_in_turns_and_compared(tmp_path: Path) -> None:
    other = tmp_path / "other"  # a second tree: a copy of this one's package
    shutil.copytree(REPO / "ea_mt", other / "ea_mt")
    source = tmp_path / "source.en"
    source.write_text("A man is walking.\n\nTwo dogs play in the snow.\nIt rains.\n",
                      encoding="utf-8")
    out = tmp_path / "report"
    done = _run("--trees", str(REPO), str(other), "--model", str(MODEL),
                "--source", str(source), "--batch", "2", "--latency-lines", "2",
                "--rounds", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "results.json").read_text(encoding="utf-8"))
    imported = [tree["runs"][0]["ea_mt"] for tree in report["trees"]]
    assert imported == [str(REPO / "ea_mt"), str((other / "ea_mt").resolve())]
    assert report["identical"] is True
    assert all(tree["runs"][0]["lines"] == 3 for tree in report["trees"])  # blank skipped
    assert all(tree["runs"][0]["tokens_per_s"] > 0 for tree in report["trees"])
    markdown = (out / "results.md").read_text(encoding="utf-8")
    assert "same translations in every run: yes" in markdown
    first_row = next(line for line in markdown.splitlines() if line.startswith(f"| `{REPO}` | ")
                     and line.count("×") == 2)
    assert first_row.count("1.000×") == 2  # the first tree is the reference


def test_a_folder_without_ea_mt_is_one_line_error(tmp_path: Path) -> None:
    done = _run("--trees", str(tmp_path), "--model", "x", "--source", "y")
    assert done.returncode != 0
    message = f"error: {tmp_path} is not an ea-mt checkout (no ea_mt/__init__.py)"
    assert done.stderr.strip() == message
