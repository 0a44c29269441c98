"""A checkpoint keeps the EA options and weights: reloading gives identical outputs, and a
vanilla transformer checkpoint warm-starts an EA model through --finetune-from-model."""

from __future__ import annotations

import torch
from fairseq import checkpoint_utils, tasks
from model_helpers import random_batch

from ea_mt.checkpoint_safety import load_checkpoint
from ea_mt.models import EvolvingMultiheadAttention

EA_OPTIONS = ("--ea-alpha", "0.3", "--ea-beta", "0.7", "--ea-kernel-size", "5",
              "--ea-chains", "encoder,cross")


def load(path, data_bin):
    models, cfg, _task = checkpoint_utils.load_model_ensemble_and_task(
        [str(path)], arg_overrides={"data": str(data_bin)}
    )
    return models[0].eval(), cfg


def test_ea_options_and_outputs_survive_save_and_load(tmp_path, small_sample, fairseq_tools):
    fairseq_tools.train(small_sample.data_bin, tmp_path, 5, *EA_OPTIONS)
    model, cfg = load(tmp_path / "checkpoint_last.pt", small_sample.data_bin)
    assert (cfg.model.ea_alpha, cfg.model.ea_beta, cfg.model.ea_kernel_size) == (0.3, 0.7, 5)
    evolving = [m for m in model.modules() if isinstance(m, EvolvingMultiheadAttention)]
    chains = {m.window for m in evolving}
    assert {(m.alpha, m.beta) for m in evolving} == {(0.3, 0.7)}
    assert all(m.ea_conv.kernel_size == (5, 5) for m in evolving if m.ea_conv is not None)
    assert len(chains) == 2  # encoder and cross windows; decoder self-attention stays plain
    assert not any(isinstance(layer.self_attn, EvolvingMultiheadAttention)
                   for layer in model.decoder.layers)

    # Rebuild the model from the saved options alone and load the weights strictly.
    state = load_checkpoint(tmp_path / "checkpoint_last.pt")
    task = tasks.setup_task(state["cfg"].task)
    rebuilt = task.build_model(state["cfg"].model).eval()
    rebuilt.load_state_dict(state["model"], strict=True)
    batch = random_batch([6, 4, 9], [5, 7, 3], seed=3)
    torch.testing.assert_close(rebuilt(**batch)[0], model(**batch)[0], rtol=0, atol=0)


def test_vanilla_checkpoint_warm_starts_an_ea_model(tmp_path, small_sample, fairseq_tools):
    vanilla_dir, ea_dir = tmp_path / "vanilla", tmp_path / "ea"
    fairseq_tools.train(small_sample.data_bin, vanilla_dir, 5, arch="transformer_tiny")
    vanilla, _ = load(vanilla_dir / "checkpoint_last.pt", small_sample.data_bin)
    output = fairseq_tools.train(
        small_sample.data_bin, ea_dir, 5, "--finetune-from-model",
        str(vanilla_dir / "checkpoint_last.pt"), "--lr", "1e-9",
    )
    assert "loaded vanilla transformer weights; 6 EA convolution tensors" in output
    ea, _ = load(ea_dir / "checkpoint_last.pt", small_sample.data_bin)
    vanilla_weights = vanilla.state_dict()
    for name, tensor in ea.state_dict().items():
        if ".ea_conv." not in name:
            torch.testing.assert_close(tensor, vanilla_weights[name], rtol=1e-4, atol=1e-6)
