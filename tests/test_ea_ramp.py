"""``--ea-ramp-updates N``: α and β rise from 0 to their values over the first N training
updates (fairseq's ``set_num_updates`` hook), so an EA model warm-started from vanilla
weights starts out computing exactly the vanilla transformer; inference uses them in full."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fairseq import options as fairseq_options
from model_helpers import build_model, random_batch
from test_ea_equations import EMBED, HEADS, reference
from typer.testing import CliRunner

import ea_mt.cli.main  # noqa: F401  (attaches every command to the app)
from ea_mt.cli.app import app
from ea_mt.data.prepare import PrepareRequest, prepare
from ea_mt.data.spm import SpmSettings
from ea_mt.errors import UserError
from ea_mt.models import AttentionChain, EAConfig, EvolvingMultiheadAttention
from ea_mt.training.train import TrainOptions, plan_training

RAMP = 100
PAD = 1  # fairseq's padding index
ALPHA, BETA = 0.6, 0.8
BATCH = random_batch([5, 3, 7], [6, 4, 8], seed=7)
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "tatoeba-en-de"


def outputs(model) -> torch.Tensor:
    """The output logits at the target's real positions (those at padding positions are
    never scored: with a convolution to follow, EA zeroes the padding queries' rows)."""
    with torch.no_grad():
        logits, _ = model(**BATCH)
    return logits[BATCH["prev_output_tokens"].ne(PAD)]


@pytest.fixture(scope="module")
def vanilla():
    return build_model("transformer_tiny", seed=11)


def warm_started(vanilla, **ea_args):
    """An EA model with the vanilla model's weights and fresh convolutions."""
    ea = build_model("ea_transformer_tiny", seed=12, **ea_args)
    ea.load_state_dict(vanilla.state_dict())
    return ea


def test_ramp_factor_rises_linearly_then_stays_at_one() -> None:
    ramp = EAConfig(ramp_updates=RAMP)
    assert [ramp.ramp(n) for n in (0, 25, 50, 100, 5000)] == [0.0, 0.25, 0.5, 1.0, 1.0]
    assert EAConfig().ramp(0) == 1.0  # off by default
    with pytest.raises(ValueError, match="--ea-ramp-updates"):
        EAConfig(ramp_updates=-1)


def test_ramped_model_is_vanilla_at_update_zero_and_full_ea_after_the_ramp(vanilla) -> None:
    ramped = warm_started(vanilla, ea_alpha=ALPHA, ea_beta=BETA, ea_ramp_updates=RAMP)
    full = warm_started(vanilla, ea_alpha=ALPHA, ea_beta=BETA)
    full.load_state_dict(ramped.state_dict())  # the same convolutions as well
    assert not torch.allclose(outputs(full), outputs(vanilla), atol=1e-3)

    ramped.set_num_updates(0)  # as fairseq's task.train_step does before every forward
    torch.testing.assert_close(outputs(ramped), outputs(vanilla), rtol=1e-5, atol=1e-5)
    for updates in (RAMP, 3 * RAMP):
        ramped.set_num_updates(updates)
        torch.testing.assert_close(outputs(ramped), outputs(full), rtol=0, atol=0)


def test_ramped_model_halfway_is_the_model_with_half_alpha_and_beta(vanilla) -> None:
    ramped = warm_started(vanilla, ea_alpha=ALPHA, ea_beta=BETA, ea_ramp_updates=RAMP)
    half = warm_started(vanilla, ea_alpha=ALPHA / 2, ea_beta=BETA / 2)
    half.load_state_dict(ramped.state_dict())
    ramped.set_num_updates(RAMP // 2)
    torch.testing.assert_close(outputs(ramped), outputs(half), rtol=1e-6, atol=1e-6)
    assert not torch.allclose(outputs(ramped), outputs(vanilla), atol=1e-3)


def test_a_model_built_with_a_ramp_uses_full_alpha_and_beta_at_inference(vanilla) -> None:
    ramped = warm_started(vanilla, ea_alpha=ALPHA, ea_beta=BETA, ea_ramp_updates=RAMP)
    full = warm_started(vanilla, ea_alpha=ALPHA, ea_beta=BETA)
    full.load_state_dict(ramped.state_dict())
    torch.testing.assert_close(outputs(ramped), outputs(full), rtol=0, atol=0)


@pytest.mark.parametrize("chain", ["encoder", "decoder", "cross"])
def test_halfway_module_matches_the_equations_at_half_weights(chain: str) -> None:
    """Against the loop-by-loop reading of the equations (tests/test_ea_equations.py)."""
    torch.manual_seed(3)
    links = AttentionChain()
    links.join()
    module = EvolvingMultiheadAttention(
        EMBED, HEADS, ea=EAConfig(alpha=ALPHA, beta=BETA, ramp_updates=RAMP), chain=links,
        chain_name=chain, self_attention=chain != "cross",
        encoder_decoder_attention=chain == "cross",
    ).eval()
    batch, tq = 2, 5
    tk = tq if chain != "cross" else 4
    query = torch.randn(tq, batch, EMBED)
    key = query if chain != "cross" else torch.randn(tk, batch, EMBED)
    key_pad = torch.zeros(batch, tk, dtype=torch.bool)
    causal = chain == "decoder"
    attn_mask = torch.triu(torch.full((tq, tk), float("-inf")), 1) if causal else None
    previous = torch.randn(batch, HEADS, tq, tk)

    module.set_num_updates(RAMP // 2)
    with links.forward_pass():
        links.previous = previous
        out, _ = module(query, key, key, attn_mask=attn_mask, static_kv=chain == "cross")
        evolved = links.previous
    with torch.no_grad():
        expected_out, expected_evolved = reference(
            module, chain, query, key, previous, key_pad, causal, ALPHA / 2, BETA / 2
        )
    torch.testing.assert_close(evolved, expected_evolved, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-5)


# --- ea-mt train -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory prepared from the first 300 lines of the bundled sample."""
    root = tmp_path_factory.mktemp("ramp")
    for split, size in {"train": 300, "valid": 20}.items():
        for lang in ("en", "de"):
            with (SAMPLE / f"{split}.{lang}").open(encoding="utf-8") as f:
                lines = [next(f) for _ in range(size)]
            (root / f"{split}.{lang}").write_text("".join(lines), encoding="utf-8")
    work = root / "work"
    prepare(PrepareRequest(workdir=work, src="en", tgt="de", train=root / "train",
                           valid=root / "valid", spm=SpmSettings(vocab_size=300)))
    return work


def test_train_passes_the_ramp_to_fairseq_which_parses_it(workdir: Path, tmp_path: Path) -> None:
    plan = plan_training(workdir, TrainOptions(arch="ea_transformer_tiny", ea_ramp_updates=400),
                         save_dir=tmp_path / "ckpt")
    assert plan.command[plan.command.index("--ea-ramp-updates") + 1] == "400"
    assert plan.config["options"]["ea_ramp_updates"] == 400
    fairseq_args = plan.command[plan.command.index(str(workdir / "data-bin")):]
    parser = fairseq_options.get_training_parser()
    args = fairseq_options.parse_args_and_arch(parser, fairseq_args)
    assert args.ea_ramp_updates == 400

    default = plan_training(workdir, TrainOptions(arch="ea_transformer_tiny"),
                            save_dir=tmp_path / "other")
    assert default.config["options"]["ea_ramp_updates"] == 0


def test_ramp_errors(workdir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="only apply to evolving-attention"):
        plan_training(workdir, TrainOptions(arch="transformer_tiny", ea_ramp_updates=10),
                      save_dir=tmp_path / "a")
    with pytest.raises(UserError, match="--ea-ramp-updates must be 0 or more"):
        plan_training(workdir, TrainOptions(arch="ea_transformer_tiny", ea_ramp_updates=-5),
                      save_dir=tmp_path / "b")
    with pytest.raises(UserError, match="use 'ea-mt train --ea-ramp-updates'"):
        plan_training(workdir, TrainOptions(arch="ea_transformer_tiny",
                                            extra_args=("--ea-ramp-updates", "10")),
                      save_dir=tmp_path / "c")


def test_cli_option_reaches_the_fairseq_command(workdir: Path) -> None:
    result = CliRunner().invoke(app, ["train", "-w", str(workdir), "--arch",
                                      "ea_transformer_tiny", "--ea-ramp-updates", "250",
                                      "--print-command"])
    assert result.exit_code == 0, result.output
    assert "--ea-ramp-updates 250" in result.stdout
