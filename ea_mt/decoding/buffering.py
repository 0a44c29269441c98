"""Input lines grouped into the buffers that translation sorts into batches.

From a file a buffer fills at once, so batching keeps its speed.  From a terminal or a
pipe that pauses, waiting for a full buffer would hold back translations that could be
shown already (``(echo A; sleep 15; echo B) | ea-mt translate``): with ``wait`` set, a
buffer ends as soon as no new line has come for ``wait`` seconds, as fairseq-interactive
translates what it has.  The lines are then read on a thread of their own, at most one
buffer ahead; an error while reading (invalid UTF-8, say) reaches the caller in order,
after the lines before it.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
from collections.abc import Iterable, Iterator
from itertools import islice

_END = object()
PAUSE_S = 0.1  # a pause of input this long ends a buffer read from a terminal or a pipe


def pauses_matter(stream: object) -> bool:
    """Whether input from ``stream`` may pause: anything but a regular file."""
    try:
        return not stat.S_ISREG(os.fstat(stream.fileno()).st_mode)  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return True


def buffers(lines: Iterable[str], size: int, wait: float | None = None) -> Iterator[list[str]]:
    """``lines`` in lists of at most ``size``; with ``wait``, also cut where input pauses."""
    if wait is None:
        source = iter(lines)
        while buffer := list(islice(source, size)):
            yield buffer
        return
    arrived: queue.Queue = queue.Queue(maxsize=size)
    threading.Thread(target=_read, args=(lines, arrived), daemon=True,
                     name="ea-mt input").start()
    while True:
        item = arrived.get()
        buffer: list[str] = []
        while item is not _END and not isinstance(item, BaseException):
            buffer.append(item)
            if len(buffer) == size:
                break
            try:
                item = arrived.get(timeout=wait)
            except queue.Empty:
                break
        if buffer:
            yield buffer
        if item is _END:
            return
        if isinstance(item, BaseException):
            raise item


def _read(lines: Iterable[str], arrived: queue.Queue) -> None:
    try:
        for line in lines:
            arrived.put(line)
    except BaseException as error:  # handed on to the translating thread, in order
        arrived.put(error)
    else:
        arrived.put(_END)
