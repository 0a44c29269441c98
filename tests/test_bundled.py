"""Shipping a model: ``ea-mt export`` and bundled models found by their short names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch
from typer.testing import CliRunner, Result

from ea_mt import bundled
from ea_mt.cli.main import app
from ea_mt.decoding.translation import Translator
from ea_mt.errors import UserError
from ea_mt.modeldir import resolve_model
from ea_mt.serving.server import parse_model_specs
from ea_mt.training.averaging import read_checkpoint_state
from ea_mt.training.export import slim_state

if TYPE_CHECKING:
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]
pytestmark = pytest.mark.slow  # every test here needs a trained model

NAME = "sample-en-de"
MAX_BUNDLED_BYTES = 10_000_000  # issue 15: each bundled model well under 10 MB


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_lines(model: TrainedModel, count: int = 30) -> list[str]:
    return model.raw.joinpath("test.en").read_text(encoding="utf-8").splitlines()[:count]


test_lines.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def exported(trained_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture model exported with fp16 weights into ``ROOT/sample-en-de``."""
    root = tmp_path_factory.mktemp("bundled")
    result = run("export", "-w", str(trained_model.workdir), "-o", str(root / NAME),
                 "--description", "test model")
    assert result.exit_code == 0, result.stderr
    assert Path(result.stdout.strip()) == root / NAME / "checkpoint_best.pt"
    return root / NAME


@pytest.fixture()
def as_bundled(exported: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the exported model the installation's one bundled model."""
    monkeypatch.setattr(bundled, "bundled_root", lambda: exported.parent)
    return exported


def test_export_keeps_weights_only_in_fp16(trained_model: TrainedModel, exported: Path) -> None:
    source = trained_model.model_dir / "checkpoint_best.pt"
    state = read_checkpoint_state(exported / "checkpoint_best.pt")
    assert state["last_optimizer_state"] is None
    assert all("optimizer" not in entry for entry in state["optimizer_history"])
    floats = [t for t in state["model"].values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float16 for t in floats)
    original = read_checkpoint_state(source)["model"]
    assert state["model"].keys() == original.keys()
    assert exported.joinpath("checkpoint_best.pt").stat().st_size < source.stat().st_size / 4
    manifest = json.loads((exported / "model.json").read_text(encoding="utf-8"))
    assert manifest["weights"] == "fp16" and manifest["description"] == "test model"
    assert {p.name for p in exported.iterdir()} == {
        "checkpoint_best.pt", "model.json", "spm.model", "dict.en.txt", "dict.de.txt"}


def test_fp32_export_translates_exactly_as_the_original(trained_model: TrainedModel,
                                                         tmp_path: Path) -> None:
    result = run("export", "-w", str(trained_model.workdir), "-o", str(tmp_path / "m"),
                 "--weights", "fp32", "-q")
    assert result.exit_code == 0, result.stderr
    lines = test_lines(trained_model)
    original = Translator.load(trained_model.workdir, device="cpu").translate(lines)
    assert Translator.load(tmp_path / "m", device="cpu").translate(lines) == original


def test_fp16_export_translates_almost_all_lines_alike(trained_model: TrainedModel,
                                                       exported: Path) -> None:
    lines = test_lines(trained_model)
    original = Translator.load(trained_model.workdir, device="cpu").translate(lines)
    half = Translator.load(exported, device="cpu").translate(lines)
    same = sum(a == b for a, b in zip(original, half, strict=True))
    assert same >= 0.9 * len(lines), list(zip(original, half, strict=True))


def test_export_refuses_an_output_in_use(trained_model: TrainedModel, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep", encoding="utf-8")
    for args, message in (
        (["-o", str(tmp_path / "taken")], "exists and is not an empty directory"),
        (["-o", str(tmp_path / "new"), "--weights", "int4"], "--weights must be one of"),
    ):
        result = run("export", "-w", str(trained_model.workdir), *args)
        assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert (tmp_path / "taken" / "x").read_text(encoding="utf-8") == "keep"
    assert not (tmp_path / "new").exists()


def test_a_bundled_model_loads_by_its_short_name(as_bundled: Path, trained_model: TrainedModel,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no work directory here
    lines = test_lines(trained_model, 5)
    expected = Translator.load(as_bundled, device="cpu").translate(lines)
    assert Translator.load(NAME, device="cpu").translate(lines) == expected
    assert resolve_model(Path("."), Path(NAME)).model_dir == as_bundled
    result = CliRunner().invoke(app, ["translate", "--checkpoint", NAME, "-q"],
                                input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == expected
    assert parse_model_specs([NAME, f"other={NAME}"]) == [(NAME, Path(NAME)),
                                                          ("other", Path(NAME))]


def test_an_existing_path_wins_over_a_short_name(as_bundled: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path(NAME).mkdir()  # a folder of that name here, not a model
    with pytest.raises(UserError, match=f"--checkpoint {NAME}: no checkpoint_best.pt"):
        resolve_model(Path("."), Path(NAME))


def test_ea_mt_models_lists_the_bundled_models(as_bundled: Path) -> None:
    result = run("models", "--paths")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{NAME}\ten-de\ttransformer_tiny\ttest model\t{as_bundled}"]


def test_an_unknown_name_is_one_line_naming_the_bundled_ones(as_bundled: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["translate", "--checkpoint", "no-such-model"], input="x\n")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"ea-mt: error: --checkpoint no-such-model: no such file or model name; or a bundled "
        f"model: {NAME} ('ea-mt models' describes them)"]
    with pytest.raises(UserError, match="nor a bundled model"):
        parse_model_specs(["x=no-such-model"])


def test_tied_weights_stay_tied_in_fp16() -> None:
    embedding = torch.randn(50, 8)
    state = {"model": {"encoder.embed_tokens.weight": embedding,
                       "decoder.embed_tokens.weight": embedding,
                       "decoder.output_projection.weight": embedding,
                       "decoder.layers.0.fc1.weight": torch.randn(8, 8),
                       "decoder.version": torch.tensor([3])},
             "cfg": {}, "optimizer_history": [{"num_updates": 7, "optimizer": {"big": 1}}]}
    slim = slim_state(state, torch.float16)["model"]
    tied = {slim[name].data_ptr() for name in list(slim)[:3]}
    assert len(tied) == 1 and slim["decoder.embed_tokens.weight"].dtype == torch.float16
    assert torch.equal(slim["decoder.version"], torch.tensor([3]))
    assert slim["decoder.layers.0.fc1.weight"].data_ptr() not in tied
