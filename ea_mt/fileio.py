"""Files written whole or not at all: the one home of atomic writing.

A file is written to a temporary file beside it (``.NAME.XXXXXX.tmp``), synced and renamed
over the target only once complete; on any failure the temporary file is removed and an
existing target keeps its old content.  A symlinked target is replaced behind the link (the
link stays), and an existing target keeps its permissions.  A target that is not a regular
file (``/dev/null``, ``/dev/full``, a FIFO) cannot be renamed over, so it is written in place.
Errors are UserErrors naming the file; a closed pipe stays a ``BrokenPipeError``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, cast

from ea_mt.errors import UserError


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path) as out:
        out.write(data)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON object atomically, UTF-8, indented for people to read."""
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    write_atomic(path, text.encode("utf-8"))


def copy_atomic(src: Path | str, dst: Path | str) -> None:
    """Copy ``src`` to ``dst`` atomically, with ``src``'s permissions."""
    with open(src, "rb") as source, atomic_file(Path(dst), mode=os.stat(src).st_mode) as out:
        shutil.copyfileobj(source, out, 1 << 20)


@contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """A binary stream whose content replaces ``path`` when the block ends without error;
    its write errors are UserErrors naming ``path``."""
    with atomic_file(path) as raw:
        yield cast(BinaryIO, NamedSink(raw, str(path)))


@contextmanager
def atomic_file(path: Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """An open binary file whose content replaces ``path`` when the block ends without
    error (for writers that need a real file, such as ``torch.save``); ``mode``: see
    :func:`atomic_path`."""
    with atomic_path(path, mode) as tmp:
        try:
            raw = tmp.open("wb")
        except OSError as error:
            raise write_error(path, error) from None
        try:
            yield raw
        except BaseException:
            with suppress(OSError):
                raw.close()
            raise
        try:
            raw.flush()
            if tmp != Path(os.path.realpath(path)):  # not a device written in place
                os.fsync(raw.fileno())
            raw.close()
        except OSError as error:
            with suppress(OSError):
                raw.close()
            raise write_error(path, error) from None


@contextmanager
def atomic_path(path: Path, mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write; renamed over ``path`` when
    the block ends without error, removed otherwise.  ``mode``: the permissions to give it
    (default: an existing target's, else 0666 less the umask).  For a target that is not a
    regular file, the target itself."""
    target = Path(os.path.realpath(path))
    existing = _stat(target)
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise UserError(f"cannot write {path}: it is a directory")
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        yield target  # a device or FIFO: written in place
        return
    if mode is None:
        mode = existing.st_mode if existing is not None else 0o666 & ~_umask()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as error:
        raise write_error(path, error) from None
    tmp = Path(name)
    try:
        yield tmp
        try:
            os.chmod(tmp, stat.S_IMODE(mode))
            os.replace(tmp, target)
        except OSError as error:
            raise write_error(path, error) from None
    finally:
        tmp.unlink(missing_ok=True)


def check_writable_dir(path: Path, option: str) -> None:
    """A UserError unless ``path`` is, or could be created as, a folder this process can
    write into (checked before any work is done; nothing is created)."""
    folder = Path(os.path.abspath(path))
    while not folder.exists() and not folder.is_symlink():
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"{option} {path}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: cannot write into {folder}: permission denied "
                        "or a read-only file system")


class NamedSink:
    """A binary output whose write errors are UserErrors naming it; ``on_error`` runs first
    (a closed pipe stays a ``BrokenPipeError``, for the caller to end quietly)."""

    def __init__(self, raw: BinaryIO, name: str,
                 on_error: Callable[[], None] | None = None) -> None:
        self._raw = raw
        self.name = name
        self._on_error = on_error

    def write(self, data: bytes) -> int:
        try:
            return self._raw.write(data)
        except OSError as error:
            raise self._failed(error) from None

    def flush(self) -> None:
        try:
            self._raw.flush()
        except OSError as error:
            raise self._failed(error) from None

    def _failed(self, error: OSError) -> BaseException:
        if isinstance(error, BrokenPipeError):
            return error
        if self._on_error is not None:
            self._on_error()
        return write_error(self.name, error)


def write_error(name: Path | str, error: OSError) -> UserError:
    """The one-line error for a failed write of ``name``."""
    return UserError(f"cannot write {name}: {error.strerror or error}")


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask
