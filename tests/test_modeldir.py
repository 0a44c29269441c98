"""Which checkpoint a model directory gives: never a silent fallback past a broken one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ea_mt.errors import UserError
from ea_mt.modeldir import resolve_model


@pytest.mark.parametrize("broken", ["directory", "dangling link"])
def test_a_broken_checkpoint_best_is_named_not_skipped(tmp_path: Path, broken: str) -> None:
    (tmp_path / "checkpoint_last.pt").write_bytes(b"a checkpoint")
    best = tmp_path / "checkpoint_best.pt"
    if broken == "directory":
        best.mkdir()
    else:
        best.symlink_to(tmp_path / "gone.pt")
    expected = "not a regular file" if broken == "directory" else "a dangling symbolic link"
    with pytest.raises(UserError, match=re.escape(f"{best} is {expected}")):
        resolve_model(tmp_path, checkpoint=tmp_path)


def test_without_checkpoint_best_the_last_one_is_used(tmp_path: Path) -> None:
    (tmp_path / "checkpoint_last.pt").write_bytes(b"a checkpoint")
    with pytest.raises(UserError, match="not an ea-mt model directory"):  # got past the choice
        resolve_model(tmp_path, checkpoint=tmp_path)
