"""What the commands print on stderr when it is a file or a pipe, not a terminal."""

from __future__ import annotations

import pytest

from ea_mt.cli.progress import reporter


def test_long_messages_are_not_wrapped_off_a_terminal(capsys: pytest.CaptureFixture) -> None:
    path = "/a/very/long/path/" + "segment/" * 30 + "file.txt"
    reporter(quiet=False).info(f"wrote {path} and more words after it")
    with reporter(quiet=False).step(f"reading {path}"):
        pass
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"wrote {path} and more words after it", f"✓ reading {path}"]
