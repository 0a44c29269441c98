"""Line-exact UTF-8 text streams for translate and score.

A line ends at ``\\n`` only (as ``wc -l`` counts); a trailing ``\\r`` (CRLF files) and
a leading byte-order mark are dropped.  Undecodable bytes are a UserError naming the
line, unless ``errors="replace"`` asks for U+FFFD substitutes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ea_mt.errors import UserError

STDIO = "-"
ERROR_MODES = ("strict", "replace")


def iter_lines(
    stream: BinaryIO, name: str, errors: str = "strict", hint: str = ""
) -> Iterator[str]:
    """The lines of a binary stream as text, without line ends; ``hint`` ends UTF-8 errors."""
    for number, raw in enumerate(stream, start=1):
        line = decode_line(raw, name, number, errors, hint)
        if number == 1:
            line = line.removeprefix("\ufeff")
        yield line.removesuffix("\n").removesuffix("\r")


def decode_line(raw: bytes, name: str, number: int, errors: str = "strict", hint: str = "") -> str:
    """Decode one line; a UserError with its number when it is not UTF-8."""
    try:
        return raw.decode("utf-8", errors=errors)
    except UnicodeDecodeError as error:
        raise UserError(
            f"{name}:{number}: invalid UTF-8 (byte 0x{raw[error.start]:02x} at column "
            f"{error.start + 1}); convert the file to UTF-8, e.g. with iconv{hint}"
        ) from None


def read_lines(path: Path | str | None, errors: str = "strict") -> list[str]:
    """All lines of a UTF-8 file, or of stdin for None or ``-`` (small inputs: references)."""
    with open_input(path) as stream:
        return list(iter_lines(stream, input_name(path), errors))


def input_name(path: Path | str | None) -> str:
    """How messages name an input: its path, or ``<stdin>``."""
    return "<stdin>" if path is None or str(path) == STDIO else str(path)


@contextmanager
def open_input(path: Path | str | None) -> Iterator[BinaryIO]:
    """A binary input stream: the file, or stdin for None or ``-``."""
    if path is None or str(path) == STDIO:
        yield sys.stdin.buffer
        return
    with _open(Path(path)) as stream:
        yield stream


@contextmanager
def open_output(path: Path | str | None) -> Iterator[BinaryIO]:
    """A binary output stream: the file (parent folders created), or stdout for None or ``-``."""
    if path is None or str(path) == STDIO:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with _create(Path(path)) as stream:
        yield stream


def same_file(a: Path | str | None, b: Path | str | None) -> bool:
    """Whether two paths (None or ``-``: stdio) name one existing file."""
    if a is None or b is None or STDIO in (str(a), str(b)):
        return False
    return Path(a).exists() and Path(b).exists() and os.path.samefile(a, b)


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a text file") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None


def _create(path: Path) -> BinaryIO:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("wb")
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror}") from None
