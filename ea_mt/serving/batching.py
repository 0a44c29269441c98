"""Dynamic batching: the sentences of concurrent requests, gathered onto the model thread.

A request (a *job*) hands its sentences to :meth:`Batcher.submit` under a *key*, the model
and decoding options they must be translated with.  One loop on the event loop picks the
key whose oldest sentence waits longest, once that key has ``max_batch_size`` sentences
waiting or its oldest has waited ``max_wait`` seconds, and gives the single model thread
(``executor``) that key's work, so the event loop keeps answering while the model works.
Sentences of different keys never share a batch or a search; keys take turns.

The model thread works in one of two ways, as ``open_stream(key)`` decides:

- *continuous batching* (a :class:`Stream`, e.g. ea-mt's fast beam search): a search runs
  step by step; before each step the key's waiting sentences join it, up to
  ``max_batch_size`` live ones (unless another key waits: then the search drains and the
  other key goes next), and every sentence that finishes is answered at once.  They join
  ``JOIN_GROUP`` (or as many as there is room for) at a time, or once the oldest has
  waited ``max_wait``: each joining encodes the joiners, which costs about as much for
  one sentence as for several;
- *batch at a time* (``open_stream`` None or returning None): up to ``max_batch_size``
  sentences, oldest first, go to ``run(key, sentences)`` together.

Other work for the model thread (``other_work``, e.g. an inspection) makes a running
search stop taking sentences too, so that it waits for one search to drain at most.

A job whose caller went away (its awaiting task was cancelled) is skipped: its waiting
sentences leave the queue, and the results of those already in a batch or search are
dropped, while the other jobs get theirs as usual.  Results reach the event loop with
``loop.call_soon_threadsafe``; the queues are shared with the model thread under a lock.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

R = TypeVar("R")
Run = Callable[[Any, list[str]], Sequence[R]]  # (key, sentences) -> one result per sentence
JOIN_GROUP = 4  # waiting sentences that join a running search without waiting for max_wait


class Stream(Protocol[R]):
    """A running search of one key that sentences join between its steps."""

    @property
    def live(self) -> int:
        """Sentences added and not yet returned by ``step``."""

    def add(self, tags: Sequence[Any], sentences: Sequence[str]) -> None:
        """Add ``sentences``, known by ``tags``, to join at the next step."""

    def step(self) -> list[tuple[Any, R]]:
        """Advance the search; the (tag, result) of every sentence that finished."""


OpenStream = Callable[[Any], "Stream[R] | None"]  # key -> a new search, or None: batches


@dataclass
class Outcome(Generic[R]):
    """A job's results, in its order, and where its time went."""

    results: list[R]
    queued_s: float = 0.0  # from submission until its first sentence went to the model
    model_s: float = 0.0  # its batches together, or from its search's start to its end
    batches: int = 0  # the batches, or searches, its sentences were part of


@dataclass(eq=False)
class _Job(Generic[R]):
    sentences: list[str]
    future: asyncio.Future[Outcome[R]]
    submitted: float
    outcome: Outcome[R] = field(init=False)
    remaining: int = field(init=False)
    started: float | None = None  # when its first sentence joined a search
    search: int = -1  # the last search one of its sentences joined

    def __post_init__(self) -> None:
        self.outcome = Outcome([None] * len(self.sentences))  # type: ignore[list-item]
        self.remaining = len(self.sentences)

    @property
    def gone(self) -> bool:
        return self.future.done()


@dataclass(frozen=True, eq=False)
class _Item:
    job: _Job
    index: int

    @property
    def sentence(self) -> str:
        return self.job.sentences[self.index]


@dataclass
class BatcherStats:
    """Counters for ``/health``."""

    queued_sentences: int = 0
    running_batch: bool = False  # a batch or search is on the model thread
    batches: int = 0  # batches, and searches, run
    sentences: int = 0
    abandoned_jobs: int = 0


class Batcher(Generic[R]):
    """Gathers sentences of concurrent jobs per key onto the model thread; see the module
    docstring."""

    def __init__(
        self, run: Run[R], executor: Executor, max_batch_size: int, max_wait_s: float,
        open_stream: OpenStream[R] | None = None,
    ) -> None:
        self._run = run
        self._open_stream = open_stream
        self._executor = executor
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._queues: dict[Hashable, deque[_Item]] = {}
        self._lock = threading.Lock()  # the queues and queued_sentences, with the model thread
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._other_work = 0  # other calls waiting for the model thread
        self._searches = itertools.count()  # numbers the searches (model thread)
        self.stats = BatcherStats()

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="ea-mt-batcher")

    async def stop(self) -> None:
        """Stop the loop (a running search stops after its step); waiting jobs are cancelled."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        with self._lock:
            for queue in self._queues.values():
                for item in queue:
                    item.job.future.cancel()
            self._queues.clear()

    async def submit(self, key: Hashable, sentences: list[str]) -> Outcome[R]:
        """Translate ``sentences`` under ``key``; cancelling the caller withdraws the job."""
        loop = asyncio.get_running_loop()
        job: _Job[R] = _Job(list(sentences), loop.create_future(), time.perf_counter())
        if not sentences:
            return job.outcome
        with self._lock:
            self._queues.setdefault(key, deque()).extend(
                _Item(job, i) for i in range(len(sentences)))
            self.stats.queued_sentences += len(sentences)
        self._wake.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            self.stats.abandoned_jobs += 1
            self._withdraw(key, job)
            raise

    @contextmanager
    def other_work(self) -> Iterator[None]:
        """Around other work for the model thread: searches meanwhile take no sentences."""
        self._other_work += 1
        try:
            yield
        finally:
            self._other_work -= 1

    def _withdraw(self, key: Hashable, job: _Job) -> None:
        """Take a gone job's sentences that still wait out of the queue."""
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                return
            kept = deque(item for item in queue if item.job is not job)
            self.stats.queued_sentences -= len(queue) - len(kept)
            if kept:
                self._queues[key] = kept
            else:
                del self._queues[key]

    # -- on the event loop ------------------------------------------------------------------

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            key = await self._next_key()
            try:
                await loop.run_in_executor(self._executor, self._work, key, loop)
            finally:
                self.stats.running_batch = False

    async def _next_key(self) -> Hashable:
        """The key to work on next, once it has a full batch or its oldest sentence waited
        enough."""
        while True:
            with self._lock:
                heads = [(queue[0].job.submitted, len(queue), key)
                         for key, queue in self._queues.items() if queue]
            if not heads:
                self._wake.clear()
                await self._wake.wait()
                continue
            submitted, waiting, key = min(heads, key=lambda head: head[0])
            wait = self._wait_left(submitted)
            if waiting >= self._max_batch_size or wait <= 0:
                return key
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _wait_left(self, submitted: float) -> float:
        """Seconds until a sentence submitted at ``submitted`` has waited ``max_wait``."""
        return submitted + self._max_wait_s - time.perf_counter()

    def _deliver(
        self, batch: list[_Item], results: Sequence[R], started: float, seconds: float
    ) -> None:
        """A batch's results to its jobs."""
        self.stats.batches += 1
        for job in {item.job: None for item in batch}:
            if job.outcome.batches == 0:
                job.outcome.queued_s = started - job.submitted
            job.outcome.batches += 1
            job.outcome.model_s += seconds
        self._complete(list(zip(batch, results, strict=True)), None)

    def _joined(self, items: list[_Item], search: int, when: float) -> None:
        """Sentences that joined the search numbered ``search``."""
        for job in {item.job: None for item in items}:
            if job.started is None:
                job.started = when
                job.outcome.queued_s = when - job.submitted
            if job.search != search:
                job.search = search
                job.outcome.batches += 1

    def _complete(self, done: list[tuple[_Item, R]], when: float | None) -> None:
        """Results to their jobs; a job whose last sentence is done gets its answer."""
        self.stats.sentences += len(done)
        for item, result in done:
            job = item.job
            job.outcome.results[item.index] = result
            job.remaining -= 1
            if job.remaining == 0 and not job.gone:
                if when is not None and job.started is not None:
                    job.outcome.model_s = when - job.started
                job.future.set_result(job.outcome)

    @staticmethod
    def _fail(items: list[_Item], error: Exception) -> None:
        for job in {item.job: None for item in items}:
            if not job.gone:
                job.future.set_exception(error)

    # -- on the model thread ----------------------------------------------------------------

    def _take(self, key: Hashable, count: int, joining: bool = False) -> list[_Item]:
        """Up to ``count`` waiting sentences of ``key``, oldest first.  ``joining`` a
        running search: none when sentences of another key or other work wait, or while
        fewer than ``JOIN_GROUP`` (or ``count``) wait and the oldest has waited less than
        ``max_wait``."""
        with self._lock:
            queue = self._queues.get(key)
            if not queue or count <= 0:
                return []
            if joining and (self._other_work or any(
                    q for k, q in self._queues.items() if k != key)):
                return []
            if (joining and len(queue) < min(count, JOIN_GROUP)
                    and self._wait_left(queue[0].job.submitted) > 0):
                return []
            taken = [queue.popleft() for _ in range(min(len(queue), count))]
            self.stats.queued_sentences -= len(taken)
            self.stats.running_batch = True
            if not queue:
                del self._queues[key]
            return taken

    def _work(self, key: Hashable, loop: asyncio.AbstractEventLoop) -> None:
        """The model thread's turn for ``key``: one search, or one batch."""
        try:
            stream = self._open_stream(key) if self._open_stream is not None else None
        except Exception as error:  # e.g. the model cannot run these options
            _post(loop, self._fail, self._take(key, self._max_batch_size), error)
            return
        if stream is None:
            self._run_batch(key, loop)
        else:
            self._run_stream(key, stream, loop)

    def _run_batch(self, key: Hashable, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._take(key, self._max_batch_size)
        if not batch:
            return
        started = time.perf_counter()
        try:
            results = self._run(key, [item.sentence for item in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(batch)} sentences gave {len(results)} results")
        except Exception as error:  # the jobs' callers turn it into an answer
            _post(loop, self._fail, batch, error)
            return
        _post(loop, self._deliver, batch, results, started, time.perf_counter() - started)

    def _run_stream(self, key: Hashable, stream: Stream[R], loop: asyncio.AbstractEventLoop
                    ) -> None:
        """Step ``stream`` while it has sentences: the key's waiting ones join before each
        step, finished ones are answered after it."""
        search = next(self._searches)
        _post(loop, self._count_search)
        inside: dict[_Item, None] = {}  # joined, not finished
        first = True
        try:
            while not self._closing:
                items = self._take(key, self._max_batch_size - stream.live, joining=not first)
                first = False
                if items:
                    inside.update(dict.fromkeys(items))
                    stream.add(items, [item.sentence for item in items])
                    if not _post(loop, self._joined, items, search, time.perf_counter()):
                        return
                if not stream.live:
                    return
                done = stream.step()
                if done:
                    for item, _ in done:
                        inside.pop(item, None)
                    if not _post(loop, self._complete, done, time.perf_counter()):
                        return
        except Exception as error:  # the jobs' callers turn it into an answer
            _post(loop, self._fail, list(inside), error)

    def _count_search(self) -> None:
        self.stats.batches += 1


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> bool:
    """Run ``callback(*args)`` on ``loop``; False when the loop is closed."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        return False
    return True
