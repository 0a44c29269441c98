"""One training run per checkpoint directory: a lock file naming its holder.

``SAVE_DIR/.ea-mt-train.lock`` holds the PID, host and start time of the run that
writes there, and an exclusive ``flock`` on it is held for the run's lifetime.  The
kernel drops the ``flock`` when its holder dies, however it dies, so a lock file left
by a killed run is recognised as stale and taken over; a live holder makes a second
run fail with a message naming it.  A child process that inherits the lock's file
descriptor (``pass_fds``) holds the lock with its parent.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ea_mt.errors import UserError

LOCK_NAME = ".ea-mt-train.lock"
# Set by ``ea-mt train`` for its fairseq child, which then shares the parent's lock.
HELD_ENV = "EA_MT_TRAIN_LOCK_HELD"


@dataclass
class RunLock:
    """A held lock: its path and the open file descriptor that holds the ``flock``."""

    path: Path
    fd: int
    stale: dict[str, object] | None = None  # what a dead holder had written, if any

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        if self.fd < 0:
            return
        try:
            if _same_file(self.path, self.fd):
                self.path.unlink()
        except OSError:
            pass
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(save_dir: Path, command: str = "") -> RunLock:
    """Lock ``save_dir`` for one training run; a UserError naming a live holder."""
    save_dir.mkdir(parents=True, exist_ok=True)
    path = save_dir / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise UserError(f"{save_dir} is in use by another training run ({_who(holder)}); "
                            f"wait for it to end or stop it (lock: {path})") from None
        if _same_file(path, fd):  # not unlinked by a holder releasing it meanwhile
            break
        os.close(fd)
    stale = _read(fd) or None
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
    return RunLock(path=path, fd=fd, stale=stale)


def held_by_parent(save_dir: Path) -> bool:
    """Whether this process was started by an ``ea-mt train`` that holds ``save_dir``'s lock."""
    held = os.environ.get(HELD_ENV)
    return held is not None and os.path.abspath(held) == os.path.abspath(save_dir)


def _read(fd: int) -> dict[str, object]:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _who(holder: dict[str, object]) -> str:
    if not holder:
        return "holder unknown"
    return (f"pid {holder.get('pid')} on {holder.get('host')}, "
            f"started {holder.get('started')}")


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
