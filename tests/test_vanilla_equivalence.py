"""α = β = 0 is the vanilla transformer; vanilla weights warm-start an EA model."""

import pytest
import torch
from model_helpers import build_model, random_batch

BATCH = random_batch([5, 3, 7], [6, 4, 8], seed=7)


@pytest.fixture(scope="module")
def vanilla():
    return build_model("transformer_tiny", seed=11)


def outputs(model) -> torch.Tensor:
    logits, _ = model(**BATCH)
    return logits


def test_alpha_beta_zero_with_vanilla_weights_is_the_vanilla_transformer(vanilla) -> None:
    ea = build_model("ea_transformer_tiny", seed=12, ea_alpha=0.0, ea_beta=0.0)
    ea.load_state_dict(vanilla.state_dict())
    torch.testing.assert_close(outputs(ea), outputs(vanilla), rtol=1e-5, atol=1e-5)


def test_vanilla_checkpoint_loads_into_the_ea_model_with_only_the_convolutions_missing(
    vanilla,
) -> None:
    ea = build_model("ea_transformer_tiny", seed=12)
    vanilla_names = set(vanilla.state_dict())
    ea_names = set(ea.state_dict())
    assert vanilla_names <= ea_names
    assert all(".ea_conv." in name for name in ea_names - vanilla_names)
    conv_before = {n: p.clone() for n, p in ea.named_parameters() if ".ea_conv." in n}
    ea.load_state_dict(vanilla.state_dict())
    for name, tensor in vanilla.state_dict().items():
        torch.testing.assert_close(ea.state_dict()[name], tensor)
    for name, tensor in conv_before.items():
        torch.testing.assert_close(ea.state_dict()[name], tensor)


def test_a_state_dict_missing_other_weights_is_still_refused(vanilla) -> None:
    ea = build_model("ea_transformer_tiny", seed=12)
    state = vanilla.state_dict()
    del state["decoder.layers.0.fc1.weight"]
    with pytest.raises(RuntimeError, match="fc1"):
        ea.load_state_dict(state)


def test_default_alpha_beta_change_the_outputs_and_train_every_convolution(vanilla) -> None:
    ea = build_model("ea_transformer_tiny", seed=12)
    ea.load_state_dict(vanilla.state_dict())
    assert not torch.allclose(outputs(ea), outputs(vanilla), atol=1e-3)
    ea.train()
    outputs(ea).logsumexp(-1).sum().backward()
    convolutions = [(n, p) for n, p in ea.named_parameters() if ".ea_conv." in n]
    assert len(convolutions) == 2 * 3  # weight and bias; encoder, decoder and cross layer 1
    for name, parameter in convolutions:
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    ("chains", "expected"),
    [("encoder", {"encoder"}), ("decoder", {"self_attn"}), ("cross", {"encoder_attn"}),
     ("none", set())],
)
def test_chains_left_out_keep_plain_attention(chains: str, expected: set[str]) -> None:
    ea = build_model("ea_transformer_tiny", ea_chains=chains)
    names = [n for n in ea.state_dict() if ".ea_conv." in n]
    found = {"encoder" if n.startswith("encoder.") else n.split(".")[3] for n in names}
    assert found == expected
