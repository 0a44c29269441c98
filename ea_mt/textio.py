"""Line-exact UTF-8 text streams for translate and score.

A line ends at ``\\n`` only (as ``wc -l`` counts); a trailing ``\\r`` (CRLF files) and
a leading byte-order mark are dropped.  Undecodable bytes are a UserError naming the
line, unless ``errors="replace"`` asks for U+FFFD substitutes.

Nothing here destroys an input: an output file is written atomically, and an output that
is the input file (by path, link, or stdin/stdout redirected from or to it: one device and
inode) is refused.  A closed stdin/stdout or a failed read or write is a UserError naming
the stream.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

from ea_mt.errors import UserError
from ea_mt.fileio import NamedSink, atomic_output

STDIO = "-"
ERROR_MODES = ("strict", "replace")


def iter_lines(
    stream: BinaryIO, name: str, errors: str = "strict", hint: str = ""
) -> Iterator[str]:
    """The lines of a binary stream as text, without line ends; ``hint`` ends UTF-8 errors."""
    for number, raw in enumerate(_read(stream, name), start=1):
        line = decode_line(raw, name, number, errors, hint)
        if number == 1:
            line = line.removeprefix("\ufeff")
        yield line.removesuffix("\n").removesuffix("\r")


def _read(stream: BinaryIO, name: str) -> Iterator[bytes]:
    """The raw lines of ``stream``; a read error (EISDIR, EIO) is a UserError naming it."""
    try:
        yield from stream
    except OSError as error:
        raise UserError(f"cannot read {name}: {error.strerror or error}") from None


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
    """A binary input stream: the file, or stdin for None or ``-``.

    A UserError when stdin is closed, or when the input is the file stdout writes to
    (``ea-mt translate < f > f``: the shell emptied f before ea-mt started).
    """
    if path is None or str(path) == STDIO:
        if sys.stdin is None:
            raise UserError("cannot read <stdin>: it is closed; give an input file instead")
        _check_not_stdout(_stream_id(sys.stdin), "<stdin>")
        yield sys.stdin.buffer
        return
    with _open(Path(path)) as stream:
        _check_not_stdout(_stream_id(stream), str(path))
        yield stream


@contextmanager
def open_output(path: Path | str | None) -> Iterator[BinaryIO]:
    """A binary output stream: stdout for None or ``-``, else the file, written atomically
    (:func:`ea_mt.fileio.atomic_output`: an existing file is replaced only on success).
    Write errors (a full disk) are UserErrors naming the output."""
    if path is None or str(path) == STDIO:
        if sys.stdout is None:
            raise UserError("cannot write <stdout>: it is closed; give an output file instead")
        sink = NamedSink(sys.stdout.buffer, "<stdout>", on_error=_silence_stdout)
        yield cast(BinaryIO, sink)
        sink.flush()
        return
    with atomic_output(Path(path)) as sink:
        yield sink


@contextmanager
def stdout_errors() -> Iterator[None]:
    """Turn a failed write to stdout in the block (a full disk) into a UserError naming it;
    stdout is flushed at the end.  A closed pipe stays a ``BrokenPipeError``."""
    try:
        yield
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        _silence_stdout()
        raise UserError(f"cannot write <stdout>: {error.strerror or error}") from None


def flush_stdout() -> None:
    """Flush stdout; a failed write (a full disk) is a UserError naming it."""
    with stdout_errors():
        pass


def check_distinct(input_path: Path | str | None, output_path: Path | str | None) -> None:
    """A UserError when the output is the input file: by path, symlink or hard link, or as
    stdin/stdout (None or ``-``) redirected from or to it (one device and inode)."""
    if input_path is None or str(input_path) == STDIO:
        source, name = _stream_id(sys.stdin), "<stdin>"
    else:
        source, name = _path_id(Path(input_path)), str(input_path)
    if output_path is None or str(output_path) == STDIO:
        _check_not_stdout(source, name)
    elif source is not None and source == _path_id(Path(output_path)):
        raise UserError(f"{output_path} is both input and output (input: {name}): it would be "
                        "destroyed; write the output to another file")


def _check_not_stdout(source: tuple[int, int] | None, name: str) -> None:
    if source is not None and source == _stream_id(sys.stdout):
        raise UserError(f"stdout is redirected to the input ({name}): the shell emptied it "
                        "before ea-mt started (or '>>' would make it grow); redirect the "
                        "output to another file")


def _stream_id(stream: Any) -> tuple[int, int] | None:
    """(device, inode) of the regular file behind an open stream, or None."""
    try:
        return _file_id(os.fstat(stream.fileno()))
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's buffer), closed
        return None


def _path_id(path: Path) -> tuple[int, int] | None:
    try:
        return _file_id(os.stat(path))
    except (OSError, ValueError):
        return None


def _file_id(status: os.stat_result) -> tuple[int, int] | None:
    return (status.st_dev, status.st_ino) if stat.S_ISREG(status.st_mode) else None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a text file") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None
