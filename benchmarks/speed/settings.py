"""What the speed benchmark measures and how: the full grid's settings and the quick one's."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import SAMPLE

Results = dict[str, Any]
DEFAULT_DECODE_INPUT = SAMPLE / "test.en"  # 500 short English sentences, in the repository


@dataclass(frozen=True)
class Settings:
    """What is measured and how; the quick grid is a smaller copy of the full one."""

    device: str = "cpu"
    dtype: str = "fp32"
    threads: int | None = None
    vocab: int = 8000
    presets: tuple[str, ...] = ("tiny", "iwslt", "big")
    lengths: tuple[int, ...] = (16, 64, 256)
    tokens: dict[str, int] = field(
        default_factory=lambda: {"tiny": 4096, "iwslt": 2048, "big": 512}
    )
    warmup: int = 1
    steps: dict[str, int] = field(default_factory=lambda: {"tiny": 10, "iwslt": 5, "big": 3})
    memory_steps: int = 2
    decode_input: Path | None = DEFAULT_DECODE_INPUT
    decode_presets: tuple[str, ...] = ("tiny", "iwslt")
    decode_len: int = 30
    decode_limit: int | None = None
    beam: int = 5
    decode_batch: int = 64
    step_preset: str = "iwslt"
    step_rows: int = 40
    step_positions: int = 256
    step_repeats: int = 2

    @property
    def device_type(self) -> str:
        """``cpu`` or ``cuda``."""
        return torch.device(self.device).type


QUICK = Settings(
    presets=("tiny", "iwslt"),
    lengths=(16, 64),
    tokens={"tiny": 2048, "iwslt": 512},
    steps={"tiny": 3, "iwslt": 3},
    decode_presets=("tiny",),
    decode_len=10,
    decode_limit=128,
    step_positions=32,
    step_repeats=1,
)
