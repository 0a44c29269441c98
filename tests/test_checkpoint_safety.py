"""fairseq checkpoints load under torch's weights_only unpickler; pickles that run code don't."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fairseq import checkpoint_utils

from ea_mt.checkpoint_safety import allow_fairseq_checkpoint_types, load_checkpoint
from ea_mt.errors import UserError


class Payload:
    """Pickles as a call of ``func(*args)``: what a malicious checkpoint would carry."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def payloads(marker: Path) -> dict[str, Payload]:
    """Payloads that each create ``marker`` if they ever run."""
    return {
        "os.system": Payload(os.system, f"touch {marker}"),
        "builtins.exec": Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.call": Payload(subprocess.call, ["touch", str(marker)]),
    }


def save_malicious(path: Path, payload: Payload) -> None:
    """A checkpoint that looks like fairseq's, with the payload in its extra_state."""
    torch.save({"cfg": None, "model": {"w": torch.zeros(2)}, "extra_state": payload}, path)


def python_load(checkpoint: Path, *imports: str) -> subprocess.CompletedProcess[str]:
    """``torch.load(checkpoint)`` with torch's defaults in a fresh interpreter."""
    code = "".join(f"import {name}\n" for name in imports)
    code += f"import torch\ntorch.load({str(checkpoint)!r})\n"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )


def test_plain_torch_load_refuses_fairseq_checkpoints_and_ea_mt_fixes_it(tiny_checkpoint):
    """The problem this module solves, then the fix, each in a fresh interpreter."""
    plain = python_load(tiny_checkpoint)
    assert plain.returncode != 0
    assert "argparse.Namespace" in plain.stderr
    fixed = python_load(tiny_checkpoint, "ea_mt")
    assert fixed.returncode == 0, fixed.stderr[-2000:]


def test_real_checkpoint_loads_to_cpu(tiny_checkpoint):
    state = checkpoint_utils.load_checkpoint_to_cpu(str(tiny_checkpoint))
    assert state["optimizer_history"][-1]["num_updates"] == 3
    assert state["cfg"].model.arch == "ea_transformer_tiny"
    # --eval-bleu keeps numpy arrays in the metrics: the allow-list must cover them.
    meters = state["extra_state"]["metrics"]["valid"]
    assert any(isinstance(meter[3].get("sum"), np.ndarray) for meter in meters)


def test_real_checkpoint_loads_as_model_and_task(tiny_checkpoint):
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([str(tiny_checkpoint)])
    assert type(models[0]).__name__ == "EATransformerModel"
    assert cfg.model.arch == "ea_transformer_tiny"
    assert len(task.source_dictionary) == len(task.target_dictionary) > 100


def test_load_checkpoint_returns_the_state(tiny_checkpoint):
    state = load_checkpoint(tiny_checkpoint)
    assert "encoder.embed_tokens.weight" in state["model"]


@pytest.mark.parametrize("name", ["os.system", "builtins.exec", "subprocess.call"])
def test_payload_is_refused_and_never_runs(tmp_path, name):
    marker = tmp_path / "payload-ran"
    checkpoint = tmp_path / "evil.pt"
    save_malicious(checkpoint, payloads(marker)[name])

    with pytest.raises(pickle.UnpicklingError):
        checkpoint_utils.load_checkpoint_to_cpu(str(checkpoint))
    with pytest.raises(UserError) as caught:
        load_checkpoint(checkpoint)
    assert not marker.exists()

    message = str(caught.value)
    assert "\n" not in message
    assert str(checkpoint) in message
    assert "refused" in message
    assert name.split(".")[1] in message


@pytest.mark.parametrize("name", ["os.system", "builtins.exec", "subprocess.call"])
def test_payloads_are_live(tmp_path, name):
    """Control: plain pickle runs each payload, so the refusals above mean something."""
    marker = tmp_path / "payload-ran"
    pickle.loads(pickle.dumps(payloads(marker)[name]))
    assert marker.exists()


def test_numpy_1_array_name_is_allowed(tmp_path):
    """numpy 1.x wrote ``numpy.core.multiarray._reconstruct``; numpy 2 writes ``numpy._core``."""
    saved = tmp_path / "numpy2.pt"
    torch.save({"counts": np.array([3, 2, 1]), "totals": np.array([4.0, 3.0])}, saved)
    old_style = tmp_path / "numpy1.pt"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(old_style, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray\n_reconstruct" in data
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            dst.writestr(item, data)
    loaded = torch.load(old_style)
    assert loaded["counts"].tolist() == [3, 2, 1]
    assert loaded["totals"].tolist() == [4.0, 3.0]


def test_allow_list_is_idempotent():
    before = torch.serialization.get_safe_globals()
    allow_fairseq_checkpoint_types()
    allow_fairseq_checkpoint_types()
    assert len(torch.serialization.get_safe_globals()) == len(before)


@pytest.mark.parametrize("cut", [0, 100, "half"])
def test_truncated_checkpoint_is_a_user_error(tiny_checkpoint, tmp_path, cut):
    data = tiny_checkpoint.read_bytes()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(data[: len(data) // 2 if cut == "half" else cut])
    with pytest.raises(UserError, match=r"^cannot load checkpoint .*broken\.pt: not a readable"):
        load_checkpoint(broken)


def test_missing_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"nowhere\.pt: no such file"):
        load_checkpoint(tmp_path / "nowhere.pt")
