"""`ea-mt inspect`: captured maps, their statistics, figures and JSON, on tiny trained models."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.image
import numpy as np
import pytest
import torch
from fairseq import utils as fairseq_utils
from model_helpers import build_model, random_batch
from typer.testing import CliRunner

import ea_mt.cli.main  # noqa: F401  (attaches every command to the app)
from ea_mt.cli.app import app
from ea_mt.decoding.alignment import hard_alignment
from ea_mt.decoding.translation import DecodeOptions, Translator
from ea_mt.inspection.capture import CHAINS, attention_modules, capture_maps
from ea_mt.inspection.plots import DPI, draw_chain, panel_inches
from ea_mt.inspection.sentence import inspect_sentence, model_labels, report
from ea_mt.modeldir import resolve_model
from ea_mt.models.attention import EvolvingMultiheadAttention

if TYPE_CHECKING:
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]

EA_LAYERS = 2
VANILLA_LAYERS = 2
SENTENCE = "Tom is my friend."
REFERENCE = "Tom ist mein Freund."
SHORT = DecodeOptions(max_len_b=20)  # barely trained models may babble up to the limit


@pytest.fixture(scope="module")
def ea_checkpoint(ea_model: TrainedModel) -> Path:
    return ea_model.model_dir / "checkpoint_last.pt"


@pytest.fixture(scope="module")
def vanilla_checkpoint(trained_model: TrainedModel) -> Path:
    return trained_model.model_dir / "checkpoint_last.pt"


@pytest.fixture(scope="module")
def ea_translator(ea_checkpoint) -> Translator:
    return Translator(resolve_model(Path("."), ea_checkpoint), SHORT, device="cpu")


@pytest.fixture(scope="module")
def vanilla_translator(vanilla_checkpoint) -> Translator:
    return Translator(resolve_model(Path("."), vanilla_checkpoint), SHORT, device="cpu")


def invoke(*args: str | Path):
    return CliRunner().invoke(app, ["inspect", *map(str, args)])


def written(result) -> list[Path]:
    assert result.exit_code == 0, result.output
    return [Path(line) for line in result.stdout.splitlines()]


@pytest.mark.slow
def test_writes_a_grid_per_chain_and_the_report(ea_checkpoint, ea_translator, tmp_path):
    result = invoke(SENTENCE, "--checkpoint", ea_checkpoint, "--out", tmp_path)
    paths = written(result)
    names = [p.name for p in paths]
    assert names == ["encoder-self.png", "decoder-self.png", "cross.png", "attention.json"]
    assert all(p.parent == tmp_path for p in paths)
    for png in paths[:3]:
        image = matplotlib.image.imread(png)
        assert image.ndim == 3 and min(image.shape[:2]) > 100
    assert f"wrote 4 files to {tmp_path}" in result.stderr
    assert "conv share" in result.stderr

    data = json.loads(paths[3].read_text(encoding="utf-8"))
    assert data["target_origin"] == "beam search (beam 5)"
    assert data["target"] == ea_translator.translate_batch([SENTENCE])[0].text
    (model,) = data["models"]
    assert model["arch"] == "ea_transformer_tiny"
    for chain in CHAINS:
        layers = model["chains"][chain]
        assert [row["layer"] for row in layers] == list(range(EA_LAYERS))
        assert layers[0]["maps"] == ["logits", "weights"]
        assert layers[0]["jsd_from_previous"] is None and layers[0]["conv_share"] is None
        for row in layers[1:]:
            assert "convolution_branch" in row["maps"]
            assert len(row["conv_share"]["heads"]) == len(row["entropy"]["heads"]) == 2


@pytest.mark.slow
def test_quiet_prints_only_the_written_paths(ea_checkpoint, tmp_path):
    result = invoke(SENTENCE, "--checkpoint", ea_checkpoint, "--out", tmp_path, "-q")
    assert [p.name for p in written(result)] == ["encoder-self.png", "decoder-self.png",
                                                 "cross.png", "attention.json"]
    assert result.stderr == ""


@pytest.mark.slow
def test_one_grid_row_per_layer(ea_translator, vanilla_translator, tmp_path):
    inspection = inspect_sentence([ea_translator, vanilla_translator], SENTENCE, REFERENCE)
    for chain in CHAINS:
        _, axes = draw_chain(inspection, chain, head=None)
        assert axes.shape == (EA_LAYERS, 3 + 1)  # M, A, softmax | vanilla softmax
    one_layer = replace(inspection, models=[_first_layers(inspection.models[0], 1)])
    all_layers = replace(inspection, models=inspection.models[:1])
    heights = {}
    for name, case in (("one", one_layer), ("all", all_layers)):
        figure, _ = draw_chain(case, "cross", head=0)
        figure.savefig(tmp_path / f"{name}.png", dpi=DPI)
        heights[name] = matplotlib.image.imread(tmp_path / f"{name}.png").shape[0]
    rows_px = panel_inches(len(inspection.tokens.target_output)) * DPI
    assert heights["all"] - heights["one"] == pytest.approx((EA_LAYERS - 1) * rows_px, abs=2)


def _first_layers(model, count):
    return replace(model, chains={c: layers[:count] for c, layers in model.chains.items()})


def teacher_forced_by_hand(translator: Translator) -> dict[str, list[dict[str, np.ndarray]]]:
    """Maps of SENTENCE/REFERENCE read by observers set here, not by ea_mt.inspection.capture."""
    sp, src_dict, tgt_dict = translator.sp, translator.src_dict, translator.tgt_dict
    src = [src_dict.index(p) for p in sp.encode(SENTENCE, out_type=str)] + [src_dict.eos()]
    tgt = [tgt_dict.index(p) for p in sp.encode(REFERENCE, out_type=str)] + [tgt_dict.eos()]
    seen: dict[str, list[dict[str, np.ndarray]]] = {}
    modules = attention_modules(translator.model)
    for chain, layers in modules.items():
        seen[chain] = [{} for _ in layers]
        for module, sink in zip(layers, seen[chain], strict=True):
            assert isinstance(module, EvolvingMultiheadAttention)
            module.observer = lambda _m, maps, sink=sink: sink.update(
                {k: v[0].double().numpy() for k, v in maps.items()})
    try:
        with torch.inference_mode():
            translator.model(torch.tensor([src]), torch.tensor([len(src)]),
                             torch.tensor([[tgt_dict.eos(), *tgt[:-1]]]))
    finally:
        for layers in modules.values():
            for module in layers:
                module.observer = None
    return seen


def entropy_np(p: np.ndarray) -> np.ndarray:
    terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(-1).mean(-1)


@pytest.mark.slow
def test_report_matches_a_direct_computation(ea_translator):
    maps = teacher_forced_by_hand(ea_translator)
    data = report(inspect_sentence([ea_translator], SENTENCE, REFERENCE))
    for chain in CHAINS:
        rows = data["models"][0]["chains"][chain]
        for index, layer in enumerate(maps[chain]):
            w = layer["weights"]
            queries, keys = w.shape[-2:]
            future = np.triu(np.ones((queries, keys), bool), 1) if chain == "decoder_self" else (
                np.zeros((queries, keys), bool))
            assert np.allclose(w.sum(-1), 1.0, atol=1e-5)
            assert np.all(w[:, future] == 0.0)
            assert rows[index]["entropy"]["heads"] == pytest.approx(entropy_np(w), abs=1e-5)
            if index == 0:
                continue
            prev = maps[chain][index - 1]["weights"]
            mid = (w + prev) / 2
            jsd = entropy_np(mid) - (entropy_np(w) + entropy_np(prev)) / 2
            assert rows[index]["jsd_from_previous"]["heads"] == pytest.approx(jsd, abs=1e-5)
            branch, evolved = layer["convolution_branch"], layer["evolved"]
            share = (np.linalg.norm(branch[:, ~future], axis=-1)
                     / np.linalg.norm(evolved[:, ~future], axis=-1))
            assert rows[index]["conv_share"]["heads"] == pytest.approx(share, rel=1e-5)
            assert rows[index]["conv_share"]["mean"] == pytest.approx(share.mean(), rel=1e-5)


@pytest.mark.slow
def test_inspecting_leaves_translation_unchanged(ea_translator, vanilla_translator):
    sentences = [SENTENCE, "I like tea.", "Where is the station?"]
    for translator in (ea_translator, vanilla_translator):
        before = translator.translate_batch(sentences)
        modules = [m for layers in attention_modules(translator.model).values() for m in layers]
        checks = [m.skip_embed_dim_check for m in modules]
        inspection = inspect_sentence([translator], SENTENCE)
        assert all(chain for chain in inspection.models[0].chains.values())
        assert translator.translate_batch(sentences) == before
        assert [m.skip_embed_dim_check for m in modules] == checks
        for module in modules:
            assert not module._forward_hooks and not module._forward_pre_hooks
            assert getattr(module, "observer", None) is None


@pytest.mark.slow
def test_vanilla_checkpoint_has_softmax_maps_only(vanilla_checkpoint, tmp_path):
    paths = written(invoke(SENTENCE, "--target", REFERENCE, "--checkpoint", vanilla_checkpoint,
                           "--out", tmp_path, "--head", "1"))
    data = json.loads(paths[-1].read_text(encoding="utf-8"))
    assert data["target_origin"] == "reference" and data["target"] == REFERENCE
    for chain, layers in data["models"][0]["chains"].items():
        assert len(layers) == VANILLA_LAYERS, chain
        assert all(row["maps"] == ["weights"] and row["conv_share"] is None for row in layers)
        assert layers[1]["jsd_from_previous"]["mean"] >= 0.0


@pytest.mark.slow
def test_compare_draws_both_models(ea_checkpoint, vanilla_checkpoint, tmp_path):
    paths = written(invoke(SENTENCE, "--target", REFERENCE, "--checkpoint", ea_checkpoint.parent,
                           "--compare", vanilla_checkpoint.parent, "--out", tmp_path))
    data = json.loads(paths[-1].read_text(encoding="utf-8"))
    assert [m["arch"] for m in data["models"]] == ["ea_transformer_tiny", "transformer_tiny"]
    labels = [m["label"] for m in data["models"]]
    assert len(set(labels)) == 2  # both are .../checkpoints/checkpoint_best.pt
    assert all(label.endswith("/checkpoints/checkpoint_best.pt") for label in labels)
    assert all(matplotlib.image.imread(p).ndim == 3 for p in paths[:3])


@pytest.mark.slow
def test_compare_needs_the_same_vocabulary(ea_checkpoint, vanilla_checkpoint, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(vanilla_checkpoint.parent, other)
    lines = (other / "dict.de.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[10], lines[11] = lines[11], lines[10]  # same size, other pieces
    (other / "dict.de.txt").write_text("".join(lines), encoding="utf-8")
    result = invoke(SENTENCE, "--checkpoint", ea_checkpoint, "--compare", other,
                    "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "dict.de.txt differs" in result.stderr
    assert not (tmp_path / "out").exists()
    result = invoke(SENTENCE, "--checkpoint", ea_checkpoint, "--compare", tmp_path / "nothing")
    assert result.exit_code == 2 and "--compare" in result.stderr and "no such" in result.stderr


@pytest.mark.slow
def test_head_options(ea_checkpoint, tmp_path):
    paths = written(invoke(SENTENCE, "--target", REFERENCE, "--checkpoint", ea_checkpoint,
                           "--out", tmp_path, "--all-heads"))
    assert sorted(p.name for p in paths if p.suffix == ".png") == sorted(
        f"{chain}.head{h}.png" for chain in ("encoder-self", "decoder-self", "cross")
        for h in (0, 1))
    for args, message in (
        (("--head", "2"), "--head 2: the model has heads 0 to 1"),
        (("--head", "0", "--all-heads"), "--head and --all-heads exclude each other"),
    ):
        result = invoke(SENTENCE, "--checkpoint", ea_checkpoint, "--out", tmp_path / "x", *args)
        assert result.exit_code == 2 and message in result.stderr
        assert not (tmp_path / "x").exists()


def test_capture_mixes_observers_and_hooks():
    """An EA model with only the encoder chain evolving: plain decoder modules give weights."""
    model = build_model(ea_chains="encoder")
    batch = random_batch([5, 3], [4, 2])
    before = model(**batch)[0]
    with capture_maps(model) as captured:
        during = model(**batch)[0]
    assert torch.allclose(before, during, atol=1e-5)  # fairseq's explicit path, not the fused one
    heads = model.decoder.layers[0].self_attn.num_heads
    encoder = captured["encoder_self"]
    assert sorted(encoder[0]) == ["logits", "weights"]
    assert sorted(encoder[1]) == ["convolution_branch", "evolved", "logits", "mixed", "weights"]
    assert encoder[1]["weights"].shape == (2, heads, 5, 5)
    for chain, queries, keys in (("decoder_self", 4, 4), ("cross", 4, 5)):
        for layer in captured[chain]:
            assert list(layer) == ["weights"]
            assert layer["weights"].shape == (2, heads, queries, keys)
            assert torch.allclose(layer["weights"].sum(-1), torch.ones(2, heads, queries))
    assert torch.all(captured["decoder_self"][0]["weights"][0].triu(1) == 0)
    for layers in attention_modules(model).values():
        for module in layers:
            assert not module._forward_hooks and not module._forward_pre_hooks
            assert getattr(module, "observer", None) is None
    assert not model.decoder.layers[0].self_attn.skip_embed_dim_check


def test_model_labels_are_short_and_distinct():
    assert model_labels([Path("a/ck/best.pt"), Path("a/ck/last.pt")]) == ["best.pt", "last.pt"]
    assert model_labels([Path("ea/ck/best.pt"), Path("/x/van/ck/best.pt")]) == [
        "ea/ck/best.pt", "van/ck/best.pt"]
    assert model_labels([Path("ck/best.pt")] * 2) == ["1: best.pt", "2: best.pt"]


def test_hard_alignment_follows_fairseq():
    src = ["▁Tom", "▁is", "▁my", "▁friend", ".", "</s>"]
    tgt = ["▁Tom", "▁ist", "▁mein", "▁Freund", ".", "</s>"]
    ids = {piece: i + 4 for i, piece in enumerate(sorted(set(src + tgt) - {"</s>"}))}
    eos, pad = 2, 1

    def encode(pieces):
        return torch.tensor([eos if p == "</s>" else ids[p] for p in pieces])

    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        weights = torch.rand(len(tgt), len(src), generator=generator).softmax(-1)
        expected = fairseq_utils.extract_hard_alignment(
            weights.clone(), encode(src), encode(tgt), pad, eos)
        assert hard_alignment(weights, src, tgt) == " ".join(f"{s}-{t}" for s, t in expected)
    diagonal = torch.eye(len(tgt), len(src))
    assert hard_alignment(diagonal, src, tgt) == "0-0 1-1 2-2 3-3 4-4"
    with pytest.raises(ValueError):
        hard_alignment(diagonal, src[:-1], tgt)
