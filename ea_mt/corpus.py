"""Reading raw parallel text: UTF-8 checked line by line, sides kept aligned.

A line ends at ``\\n`` only (as ``wc -l`` counts), so a stray ``\\r`` or other
Unicode line separator inside a sentence cannot shift one side against the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ea_mt.errors import UserError


@dataclass(frozen=True)
class TextFile:
    """A checked UTF-8 text file: its path, number of lines and SHA-256."""

    path: Path
    lines: int
    sha256: str


def scan_text(path: Path) -> TextFile:
    """Check that ``path`` is readable UTF-8; count its lines and hash its bytes."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    digest = hashlib.sha256()
    lines = 0
    with _open(path) as f:
        for raw in f:
            lines += 1
            digest.update(raw)
            _decode(raw, path, lines)
    return TextFile(path=path, lines=lines, sha256=digest.hexdigest())


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 file, without line ends (``\\r\\n`` included) or a BOM."""
    with _open(path) as f:
        for number, raw in enumerate(f, start=1):
            line = _decode(raw, path, number)
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield line.removesuffix("\n").removesuffix("\r")


def scan_parallel(src: Path, tgt: Path) -> tuple[TextFile, TextFile]:
    """Scan both sides of a parallel corpus and check they have as many lines."""
    src_file, tgt_file = scan_text(src), scan_text(tgt)
    if src_file.lines != tgt_file.lines:
        raise UserError(
            f"{src} has {src_file.lines} lines but {tgt} has {tgt_file.lines}: "
            "line i of each side must be one sentence pair"
        )
    return src_file, tgt_file


def _open(path: Path):
    try:
        return path.open("rb")
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None


def _decode(raw: bytes, path: Path, number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path}:{number}: invalid UTF-8 (byte 0x{raw[error.start]:02x} at column "
            f"{error.start + 1}); convert the file to UTF-8, e.g. with iconv"
        ) from None
