"""Reading raw parallel text: UTF-8 checked line by line, sides kept aligned.

Lines are read as :mod:`ea_mt.textio` reads them: a line ends at ``\\n`` only (as
``wc -l`` counts), so a stray ``\\r`` or other Unicode line separator inside a sentence
cannot shift one side against the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ea_mt.errors import UserError
from ea_mt.textio import decode_line, iter_lines, open_input


@dataclass(frozen=True)
class TextFile:
    """A checked UTF-8 text file: its path, number of lines and SHA-256."""

    path: Path
    lines: int
    sha256: str


def scan_text(path: Path) -> TextFile:
    """Check that ``path`` is readable UTF-8; count its lines and hash its bytes."""
    if not path.is_file():
        raise UserError(f"{path}: no such file{_other_languages(path)}")
    digest = hashlib.sha256()
    lines = 0
    with open_input(path) as f:
        for raw in f:
            lines += 1
            digest.update(raw)
            decode_line(raw, str(path), lines)
    return TextFile(path=path, lines=lines, sha256=digest.hexdigest())


def _other_languages(path: Path) -> str:
    """A hint naming the files of the same prefix that do exist (a wrong --src/--tgt)."""
    others = sorted(p.name for p in path.parent.glob(f"{path.stem}.*") if p.is_file())
    return f" (found {', '.join(others)}: check --src/--tgt)" if others else ""


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 file, without line ends (``\\r\\n`` included) or a BOM."""
    with open_input(path) as f:
        yield from iter_lines(f, str(path))


def scan_parallel(src: Path, tgt: Path) -> tuple[TextFile, TextFile]:
    """Scan both sides of a parallel corpus and check they have as many lines."""
    src_file, tgt_file = scan_text(src), scan_text(tgt)
    if src_file.lines != tgt_file.lines:
        raise UserError(
            f"{src} has {src_file.lines} lines but {tgt} has {tgt_file.lines}: "
            "line i of each side must be one sentence pair"
        )
    return src_file, tgt_file
