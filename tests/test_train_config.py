"""Effective settings recorded once, `ea-mt train --config` and what a resume tells."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from test_cli_train import TINY, invoke
from test_cli_train import workdir as workdir  # a module fixture

from ea_mt.errors import UserError
from ea_mt.models.config import DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_KERNEL_SIZE, EAConfig
from ea_mt.training.config_file import dump_options, read_options
from ea_mt.training.options import TrainOptions
from ea_mt.training.train import plan_training


def flag_value(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_ea_defaults_are_resolved_once_and_recorded(workdir: Path, tmp_path: Path) -> None:
    plan = plan_training(workdir, TrainOptions(arch="ea_transformer_tiny"), tmp_path / "a")
    recorded = plan.config["options"]
    assert (recorded["ea_alpha"], recorded["ea_beta"], recorded["ea_kernel_size"],
            recorded["ea_chains"]) == (DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_KERNEL_SIZE,
                                       "encoder,decoder,cross")
    assert flag_value(plan.command, "--ea-alpha") == str(DEFAULT_ALPHA)
    assert flag_value(plan.command, "--ea-chains") == "encoder,decoder,cross"
    vanilla = plan_training(workdir, TrainOptions(arch="transformer_tiny"), tmp_path / "b")
    assert vanilla.config["options"]["ea_alpha"] is None and "--ea-alpha" not in vanilla.command


def test_resolve_fills_only_what_is_missing() -> None:
    assert EAConfig.resolve() == EAConfig()
    ea = EAConfig.resolve(alpha=0.2, chains="cross,encoder")
    assert (ea.alpha, ea.beta, ea.chains_text) == (0.2, DEFAULT_BETA, "encoder,cross")
    assert EAConfig.resolve(chains="none").chains_text == "none"


def test_config_file_yaml_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("arch: transformer_tiny\nmax-update: 7\n--lr: 0.002\n"
                    "extra_args: [--update-freq, 2]\n", encoding="utf-8")
    assert read_options(path) == {"arch": "transformer_tiny", "max_update": 7, "lr": 0.002,
                                  "extra_args": ("--update-freq", "2")}
    options = TrainOptions(arch="ea_transformer_tiny", lr=3e-3, ea_chains="encoder",
                           extra_args=("--update-freq", "2"))
    path.write_text(dump_options(options), encoding="utf-8")
    assert TrainOptions(**read_options(path)) == options


@pytest.mark.parametrize(("text", "message"), [
    ("max_updates: 3\n", "unknown option 'max_updates'"),
    ("max_update: many\n", "max_update must be int or null, not 'many'"),
    ("lr: .inf\n", "lr must be float or null, not inf"),
    ("seed: true\n", "seed must be int, not True"),
    ("extra_args: --x\n", "extra_args must be a list of strings"),
    ("- arch\n", "expected a mapping"),
    ("arch: [\n", "not valid YAML"),
])
def test_config_file_errors_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace(".", r"\.")):
        read_options(path)


def test_command_line_overrides_the_config_file(workdir: Path, tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("arch: ea_transformer_tiny\nmax_update: 7\nlr: 0.002\nseed: 4\n",
                    encoding="utf-8")
    result = invoke("train", "-w", workdir, "--save-dir", tmp_path / "ck", "--config", path,
                    "--lr", "0.001", "--print-config")
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.stdout)
    assert (printed["lr"], printed["max_update"], printed["seed"]) == (0.001, 7, 4)
    assert printed["ea_alpha"] == DEFAULT_ALPHA and printed["warmup"] is not None


@pytest.mark.parametrize(("extra", "pointer"), [
    (["--max-update", "3"], "use 'ea-mt train --max-update'"),
    (["--save-dir=elsewhere"], "use 'ea-mt train --save-dir'"),
    (["--user-dir", "x"], "ea-mt sets it itself"),
])
def test_managed_fairseq_options_after_dashdash_are_refused(
    workdir: Path, tmp_path: Path, extra: list[str], pointer: str
) -> None:
    result = invoke("train", "-w", workdir, "--save-dir", tmp_path / "ck", *TINY,
                    "--max-update", "10", "--", *extra)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and pointer in result.stderr
    assert not (tmp_path / "ck").exists()


def fake_saved_run(save_dir: Path, options: dict, saved_at: int) -> None:
    """A save dir as a run leaves it: a checkpoint archive, its config and log."""
    plan = plan_training(save_dir.parent / "work", TrainOptions(arch=options["arch"]), save_dir)
    save_dir.mkdir()
    torch.save({}, save_dir / "checkpoint_last.pt")
    config = {**plan.config, "options": {**plan.config["options"], **options}}
    (save_dir / "train_config.json").write_text(json.dumps(config), encoding="utf-8")
    (save_dir / "train.log").write_text(
        "2026-01-01 10:00:00 | INFO | fairseq.checkpoint_utils | Saved checkpoint "
        f"{save_dir}/checkpoint1.pt (epoch 1 @ {saved_at} updates, score 1.0) "
        "(writing took 0.1 seconds)\n", encoding="utf-8")


def test_resume_tells_what_changed_and_what_is_reached(workdir: Path, tmp_path: Path) -> None:
    shutil.copytree(workdir, tmp_path / "work")
    save_dir = tmp_path / "ck"
    # a run of ea-mt 0.1.0: None recorded for EA settings left at their defaults
    fake_saved_run(save_dir, {"arch": "ea_transformer_tiny", "lr": 0.003, "max_update": 100,
                              "ea_alpha": None, "ea_chains": None}, saved_at=100)
    plan = plan_training(tmp_path / "work", TrainOptions(
        arch="ea_transformer_tiny", lr=0.001, max_update=50), save_dir)
    assert plan.resume
    changed, reached = plan.notes
    assert "--lr 0.003 -> 0.001" in changed and "max-update" not in changed
    assert "ea_alpha" not in changed and "--ea-alpha" not in changed
    assert "at update 100, --max-update is 50: nothing is left to train" in reached
    same = plan_training(tmp_path / "work", TrainOptions(
        arch="ea_transformer_tiny", lr=0.003, max_update=200), save_dir)
    assert same.notes == ()


@pytest.mark.slow
def test_config_of_a_run_reproduces_it_bit_for_bit(workdir: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    shutil.copytree(workdir, first)
    result = invoke("train", "-w", first, *TINY, "--max-update", "20", "--seed", "3",
                    "--ea-alpha", "0.3", "--dropout", "0.2", "--no-eval-bleu",
                    "--", "--update-freq", "2")
    assert result.exit_code == 0, result.output
    second = tmp_path / "second"
    shutil.copytree(workdir, second)
    result = invoke("train", "-w", second, "--config",
                    first / "checkpoints" / "train_config.json", "--quiet")
    assert result.exit_code == 0, result.output
    configs = [json.loads((w / "checkpoints" / "train_config.json").read_text()) for w in
               (first, second)]
    assert configs[0]["options"] == configs[1]["options"]
    assert configs[1]["options"]["extra_args"] == ["--update-freq", "2"]
    states = [torch.load(w / "checkpoints" / "checkpoint_last.pt", weights_only=True)
              for w in (first, second)]
    assert states[0]["optimizer_history"][-1]["num_updates"] == 20
    for name, tensor in states[0]["model"].items():
        assert torch.equal(tensor, states[1]["model"][name]), name
    third = tmp_path / "third"
    shutil.copytree(workdir, third)
    result = invoke("train", "-w", third, "--config",
                    first / "checkpoints" / "train_config.json", "--seed", "4", "--quiet")
    assert result.exit_code == 0, result.output
    other = torch.load(third / "checkpoints" / "checkpoint_last.pt", weights_only=True)
    assert not all(torch.equal(t, other["model"][n]) for n, t in states[0]["model"].items())
