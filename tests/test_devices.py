"""ea_mt.devices: the one home of --device, --precision and --threads."""

from __future__ import annotations

import pytest
import torch

from ea_mt.devices import (
    DEVICES,
    check_device,
    resolve_device,
    set_threads,
    thread_env,
    torch_device,
    torch_dtype,
    torch_threads,
)
from ea_mt.errors import UserError


def test_device_choices() -> None:
    for device in DEVICES:
        check_device(device)
    with pytest.raises(UserError, match="--device must be one of auto, cpu, cuda, not 'tpu'"):
        check_device("tpu")
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert torch_device("cpu", "fp32") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the errors without CUDA")
def test_cuda_and_half_precision_need_a_gpu() -> None:
    with pytest.raises(UserError, match="--device cuda: no CUDA device is available here"):
        resolve_device("cuda")
    with pytest.raises(UserError, match="--precision fp16 needs a CUDA device"):
        torch_device("auto", "fp16")


def test_precision_choices() -> None:
    with pytest.raises(UserError, match="--precision must be one of fp32, fp16, bf16"):
        torch_device("cpu", "fp8")
    assert torch_dtype("bf16") is torch.bfloat16


def test_threads() -> None:
    with pytest.raises(UserError, match="--threads must be at least 1, not 0"):
        set_threads(0)
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    assert thread_env(None) == {}
    assert thread_env(2) == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
