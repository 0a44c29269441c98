"""The decoding benchmark (benchmarks/decoding/): end to end on the bundled models, and
the pieces its figures rest on (batches, target checks, CTranslate2's length limit)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.decoding.ct2_runner import max_decoding_length
from benchmarks.decoding.grid import in_corpus_order
from benchmarks.decoding.inputs import batch_indices, default_reference
from benchmarks.decoding.scores import TARGETS, evaluate_targets
from benchmarks.decoding.systems import BASELINE, SYSTEMS
from ea_mt.decoding.options import DecodeOptions
from ea_mt.devices import PRECISIONS

REPO = Path(__file__).resolve().parent.parent
HAVE_CT2 = importlib.util.find_spec("ctranslate2") is not None
IN_CI = os.environ.get("CI") == "true"
INT8 = "int8" in PRECISIONS  # ea-mt's own int8, where this ea-mt has it


def test_batches_are_longest_first_and_put_back_in_order() -> None:
    lengths = [3, 7, 3, 9, 1]
    groups = batch_indices(lengths, 2)
    assert groups == [[3, 1], [0, 2], [4]]  # ties keep corpus order
    outputs = [[f"out{i}"] for group in groups for i in group]
    assert in_corpus_order(outputs, groups) == [[f"out{i}"] for i in range(5)]


def test_default_reference_swaps_the_language_suffix() -> None:
    assert default_reference(Path("m30k/test2016.en"), "de") == Path("m30k/test2016.de")


def test_ct2_length_limit_is_fairseqs() -> None:
    """fairseq's max_len: max_len_a · width + max_len_b, below the decoder's positions."""
    options = DecodeOptions(max_len_a=1.5, max_len_b=10)
    assert max_decoding_length(options, width=8, max_decoder_positions=1024) == 22
    assert max_decoding_length(options, width=8, max_decoder_positions=16) == 15
    assert max_decoding_length(DecodeOptions(), 30, 1024) == DecodeOptions().max_len_b


def figures(tok_s: float, p50: float, available: bool = True) -> dict:
    if not available:
        return {"available": False, "reason": "not here"}
    return {"available": True, "tokens_per_s": tok_s, "p50_latency_ms": p50}


def test_targets_are_met_missed_or_not_available() -> None:
    batch64 = {s.key: figures(100, 10) for s in SYSTEMS}
    batch64["fast-ea-fp32"] = figures(250, 4)  # 2.5x fairseq-ea, 2.5x CTranslate2
    batch64["fast-ea-int8"] = figures(0, 0, available=False)
    batch1 = {s.key: figures(100, 10) for s in SYSTEMS}
    batch1["fast-ea-fp32"] = figures(100, 12)  # slower than CTranslate2 at batch 1
    runs = [{"beam": 5, "batch": 64, "threads": 1, "systems": batch64},
            {"beam": 5, "batch": 1, "threads": 1, "systems": batch1},
            {"beam": 1, "batch": 64, "threads": 1, "systems": batch1}]  # no target's
    rows = evaluate_targets(runs)
    assert [(r["status"], r["ratio"]) for r in rows] == [
        ("met", 2.5), ("met", 2.5), ("not available", None), ("missed", 1.2)]
    unmeasured = evaluate_targets(runs[2:])
    assert len(unmeasured) == len(TARGETS)
    assert all(r["status"].startswith("not measured") for r in unmeasured)


def test_a_missing_model_is_a_one_line_error() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.decoding", "--vanilla", "x"],
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(
        "--vanilla x: no such model directory or checkpoint")
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_benchmark_end_to_end(tmp_path: Path) -> None:
    """Every system on a few lines of the bundled sample with the bundled models (the
    defaults: no model named): figures for each that can run here, the fast path exactly
    fairseq's, CTranslate2 close to it, the report and the plot written."""
    if IN_CI:
        assert HAVE_CT2, "CI installs requirements/benchmarks.txt (ctranslate2) before tests"
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "benchmarks.decoding",
        "--limit", "6", "--rounds", "1", "--beams", "1", "--batches", "2", "--threads", "1",
        "--ct2-cache", tmp_path / "ct2", "--out", out,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([str(c) for c in command], cwd=REPO, capture_output=True,
                          text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))

    assert [s["key"] for s in results["systems"]] == [s.key for s in SYSTEMS]
    (run,) = results["runs"]
    assert set(run["systems"]) == {s.key for s in SYSTEMS}
    expected_missing = {s.key for s in SYSTEMS
                        if (s.decoder == "ct2" and not HAVE_CT2)
                        or (s.decoder == "fast" and s.precision == "int8" and not INT8)}
    missing = {key for key, f in run["systems"].items() if not f["available"]}
    assert missing == expected_missing
    for key in missing:
        assert run["systems"][key]["reason"]
    for key, entry in run["systems"].items():
        if not entry["available"]:
            continue
        assert entry["tokens"] > 0 and entry["tokens_per_s"] > 0 and entry["p50_latency_ms"] > 0
        assert 0 <= entry["bleu"] <= 100, key  # the default reference, test.de beside test.en
        memory = entry["memory"]
        assert memory["peak_mb"] >= memory["baseline_mb"] > 0, key
        assert entry["vs_baseline"]["tokens_per_s"] == (
            pytest.approx(entry["tokens_per_s"] / run["systems"][BASELINE]["tokens_per_s"])
            if HAVE_CT2 else None)

    for model in ("ea", "vanilla"):
        fast = run["systems"][f"fast-{model}-fp32"]
        assert fast["identical_to"] == f"fairseq-{model}-fp32"
        assert fast["identical"] == 1.0
        assert fast["bleu"] == run["systems"][f"fairseq-{model}-fp32"]["bleu"]
    if HAVE_CT2:
        ct2 = run["systems"][BASELINE]
        assert ct2["identical_to"] == "fairseq-vanilla-fp32"
        assert ct2["identical"] >= 5 / 6  # same model, options matched; float noise allowed
        assert run["systems"][BASELINE]["vs_baseline"]["tokens_per_s"] == pytest.approx(1.0)

    markdown = (out / "results.md").read_text(encoding="utf-8")
    for system in SYSTEMS:
        assert system.label in markdown
    assert "## Targets" in markdown and "## Beam 1, batch 2, 1 thread(s)" in markdown
    assert (out / "ratios.png").stat().st_size > 0

    (out / "results.md").unlink()
    rewrite = subprocess.run([sys.executable, "-m", "benchmarks.decoding", "--report", str(out)],
                             cwd=REPO, capture_output=True, text=True, check=False)
    assert rewrite.returncode == 0, rewrite.stderr[-2000:]
    assert (out / "results.md").read_text(encoding="utf-8") == markdown
