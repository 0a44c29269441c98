"""Dynamic batching: the sentences of concurrent requests, gathered into batches.

A request (a *job*) hands its sentences to :meth:`Batcher.submit` under a *key*, the model
and decoding options they must be translated with.  One loop on the event loop takes
batches of up to ``max_batch_size`` sentences of one key, oldest first: it starts a batch
once that many are waiting or the oldest has waited ``max_wait`` seconds, and runs it on
the single model thread (``executor``), so the event loop keeps answering while the model
works.  Sentences of different keys never share a batch.  A job whose caller went away
(its awaiting task was cancelled) is skipped: its waiting sentences leave the queue, and the
results of those already in a batch are dropped, while the other jobs of that batch get
theirs as usual.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

R = TypeVar("R")
Run = Callable[[Any, list[str]], Sequence[R]]  # (key, sentences) -> one result per sentence


@dataclass
class Outcome(Generic[R]):
    """A job's results, in its order, and where its time went."""

    results: list[R]
    queued_s: float = 0.0  # from submission until its first batch started
    model_s: float = 0.0  # the batches it was part of, together
    batches: int = 0


@dataclass(eq=False)
class _Job(Generic[R]):
    sentences: list[str]
    future: asyncio.Future[Outcome[R]]
    submitted: float
    outcome: Outcome[R] = field(init=False)
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        self.outcome = Outcome([None] * len(self.sentences))  # type: ignore[list-item]
        self.remaining = len(self.sentences)

    @property
    def gone(self) -> bool:
        return self.future.done()


@dataclass(frozen=True)
class _Item:
    job: _Job
    index: int


@dataclass
class BatcherStats:
    """Counters for ``/health``."""

    queued_sentences: int = 0
    running_batch: bool = False
    batches: int = 0
    sentences: int = 0
    abandoned_jobs: int = 0


class Batcher(Generic[R]):
    """Gathers sentences of concurrent jobs into batches per key; see the module docstring."""

    def __init__(
        self, run: Run[R], executor: Executor, max_batch_size: int, max_wait_s: float
    ) -> None:
        self._run = run
        self._executor = executor
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._queues: dict[Hashable, deque[_Item]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stats = BatcherStats()

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="ea-mt-batcher")

    async def stop(self) -> None:
        """Stop the loop; jobs still waiting are cancelled."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
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
        self._queues.setdefault(key, deque()).extend(_Item(job, i) for i in range(len(sentences)))
        self.stats.queued_sentences += len(sentences)
        self._wake.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            self.stats.abandoned_jobs += 1
            self._withdraw(key, job)
            raise

    def _withdraw(self, key: Hashable, job: _Job) -> None:
        """Take a gone job's sentences that still wait out of the queue."""
        queue = self._queues.get(key)
        if queue is None:
            return
        kept = deque(item for item in queue if item.job is not job)
        self.stats.queued_sentences -= len(queue) - len(kept)
        if kept:
            self._queues[key] = kept
        else:
            del self._queues[key]

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            key = await self._next_key()
            batch = self._take(key)
            if not batch:
                continue
            self.stats.running_batch = True
            started = time.perf_counter()
            try:
                sentences = [item.job.sentences[item.index] for item in batch]
                results = await loop.run_in_executor(self._executor, self._run, key, sentences)
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(batch)} sentences gave {len(results)} results")
            except Exception as error:  # the jobs' callers turn it into an answer
                for job in {item.job for item in batch}:
                    if not job.gone:
                        job.future.set_exception(error)
                continue
            finally:
                self.stats.running_batch = False
            self._deliver(batch, results, started, time.perf_counter() - started)

    async def _next_key(self) -> Hashable:
        """The key of the next batch, once it is full or its oldest sentence waited enough."""
        while True:
            heads = [(queue[0].job.submitted, key) for key, queue in self._queues.items()
                     if queue]
            if not heads:
                self._wake.clear()
                await self._wake.wait()
                continue
            submitted, key = min(heads, key=lambda head: head[0])
            wait = submitted + self._max_wait_s - time.perf_counter()
            if len(self._queues[key]) >= self._max_batch_size or wait <= 0:
                return key
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _take(self, key: Hashable) -> list[_Item]:
        """Up to ``max_batch_size`` sentences of ``key``, oldest first."""
        queue = self._queues[key]
        batch = [queue.popleft() for _ in range(min(len(queue), self._max_batch_size))]
        self.stats.queued_sentences -= len(batch)
        if not queue:
            del self._queues[key]
        return batch

    def _deliver(
        self, batch: list[_Item], results: Sequence[R], started: float, seconds: float
    ) -> None:
        self.stats.batches += 1
        self.stats.sentences += len(batch)
        for job in {item.job for item in batch}:
            if job.outcome.batches == 0:
                job.outcome.queued_s = started - job.submitted
            job.outcome.batches += 1
            job.outcome.model_s += seconds
        for item, result in zip(batch, results, strict=True):
            job = item.job
            job.outcome.results[item.index] = result
            job.remaining -= 1
            if job.remaining == 0 and not job.gone:
                job.future.set_result(job.outcome)
