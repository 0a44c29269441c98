"""``ea-mt serve``: dynamic batching, the endpoints, every bad input, API keys, disconnects
and SIGTERM.

The batcher and the request checks are tested on a stand-in translator (fast); batching
equivalence, truncation and /inspect on the tiny trained models; shutdown, disconnects and
the API key from the environment on a real ``ea-mt serve`` process on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

import ea_mt.cli.main  # noqa: F401  (attaches every command to the app)
import ea_mt.serving.auth
from ea_mt.cli.app import app as cli_app
from ea_mt.decoding.hypotheses import Hypothesis, LineResult
from ea_mt.decoding.options import DecodeOptions
from ea_mt.decoding.translation import Translator
from ea_mt.devices import torch_threads
from ea_mt.serving.app import create_app
from ea_mt.serving.batching import Batcher
from ea_mt.serving.server import load_models
from ea_mt.serving.service import ModelSet, TranslationService
from ea_mt.serving.settings import ServeSettings

if TYPE_CHECKING:
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]

ASYNC_TIMEOUT = 60  # seconds: a hung batcher fails the test instead of hanging it
STARTUP_TIMEOUT = 180  # seconds for `ea-mt serve` to load torch, fairseq and the model
KEY = "s3cret-key"


# --- a stand-in translator: the shape of Translator, no model --------------------------


class FakeTranslator:
    """Translates a line to its upper case, or fails on ``boom``; records every call."""

    def __init__(self) -> None:
        self.options = DecodeOptions()
        layer = SimpleNamespace(self_attn=SimpleNamespace(num_heads=2),
                                encoder_attn=SimpleNamespace(num_heads=2))
        self.model = SimpleNamespace(encoder=SimpleNamespace(layers=[layer, layer]),
                                     decoder=SimpleNamespace(layers=[layer, layer]))
        self.files = SimpleNamespace(arch="fake", src="en", tgt="de",
                                     checkpoint=Path("/secret/place/checkpoint_best.pt"))
        self.max_source_pieces = 1023
        self.generator = None  # not the fast decoder: the service batches a batch at a time
        self.calls: list[list[str]] = []
        self.gate: threading.Event | None = None  # set: translate waits until it opens
        self.started = threading.Event()

    with_options = Translator.with_options  # the real one: a copy with its own generator

    def _build_generator(self) -> None:
        return None

    def translate_batch(self, lines: list[str],
                        alignment_layer: int | None = None) -> list[LineResult]:
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(ASYNC_TIMEOUT)
        self.calls.append(list(lines))
        if "boom" in lines:
            raise RuntimeError("boom")
        beam = self.options.beam
        return [
            LineResult([Hypothesis(f"{line.upper()}|b{beam}|{rank}", -float(rank),
                                   alignment=None if alignment_layer is None else "0-0")
                        for rank in range(self.options.nbest)] if line.strip() else [])
            for line in lines
        ]


def fake_service(**settings: Any) -> tuple[TranslationService, FakeTranslator]:
    fake = FakeTranslator()
    service = TranslationService(ModelSet({"default": fake}), ServeSettings(**settings))
    return service, fake


def run_async(app: FastAPI, work: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    """``work(client)`` against ``app`` (lifespan started), on a fresh event loop."""
    async def main() -> Any:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await asyncio.wait_for(work(client), ASYNC_TIMEOUT)

    return asyncio.run(main())


class Client:
    """Synchronous requests to an app whose event loop runs in another thread."""

    def __init__(self, run: Callable[[Awaitable[Any]], Any], client: httpx.AsyncClient) -> None:
        self._run = run
        self._client = client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._run(self._client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@contextmanager
def session(app: FastAPI) -> Iterator[Client]:
    """A :class:`Client` of ``app``, its lifespan started, on an event loop of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(work: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(_bounded(work), loop).result()

    lifespan = app.router.lifespan_context(app)
    run(lifespan.__aenter__())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    try:
        yield Client(run, client)
    finally:
        run(client.aclose())
        run(lifespan.__aexit__(None, None, None))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(ASYNC_TIMEOUT)
        loop.close()


async def _bounded(work: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(work, ASYNC_TIMEOUT)


# --- the batcher -----------------------------------------------------------------------


def batcher_run(
    work: Callable[[Batcher, list[tuple[Any, list[str]]]], Awaitable[Any]],
    max_batch_size: int, max_wait_s: float,
    fail_on: str | None = None,
) -> tuple[Any, list[tuple[Any, list[str]]]]:
    """Run ``work(batcher, batches)``; the runner echoes ``key:sentence`` and records
    each batch; ``fail_on`` makes a batch holding that sentence raise."""
    from concurrent.futures import ThreadPoolExecutor

    batches: list[tuple[Any, list[str]]] = []

    def run(key: Any, sentences: list[str]) -> list[str]:
        batches.append((key, list(sentences)))
        if fail_on in sentences:
            raise ValueError(fail_on)
        return [f"{key}:{s}" for s in sentences]

    async def main() -> Any:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(run, executor, max_batch_size, max_wait_s)
            batcher.start()
            try:
                return await asyncio.wait_for(work(batcher, batches), ASYNC_TIMEOUT)
            finally:
                await batcher.stop()

    return asyncio.run(main()), batches


def test_concurrent_jobs_share_batches_up_to_the_size_limit() -> None:
    async def work(batcher: Batcher, _batches: list) -> list:
        return await asyncio.gather(*(batcher.submit("k", [f"s{i}"]) for i in range(10)))

    outcomes, batches = batcher_run(work, max_batch_size=4, max_wait_s=0.2)
    assert [o.results for o in outcomes] == [[f"k:s{i}"] for i in range(10)]
    assert [len(b) for _, b in batches] == [4, 4, 2]
    assert sum(o.batches for o in outcomes) == 10


def test_a_full_batch_does_not_wait_for_the_maximum_wait() -> None:
    async def work(batcher: Batcher, _batches: list) -> list:
        return await asyncio.gather(batcher.submit("k", ["a"]), batcher.submit("k", ["b"]))

    outcomes, batches = batcher_run(work, max_batch_size=2, max_wait_s=3600)  # full: at once
    assert [o.results for o in outcomes] == [["k:a"], ["k:b"]]
    assert batches == [("k", ["a", "b"])]


def test_a_lone_sentence_goes_after_the_maximum_wait() -> None:
    async def work(batcher: Batcher, _batches: list) -> list:
        return (await batcher.submit("k", ["alone"])).results

    results, batches = batcher_run(work, max_batch_size=64, max_wait_s=0.01)
    assert results == ["k:alone"] and batches == [("k", ["alone"])]


def test_sentences_of_different_keys_never_share_a_batch() -> None:
    keys = ["beam5", "beam1", ("other", None)]

    async def work(batcher: Batcher, _batches: list) -> list:
        jobs = [batcher.submit(keys[i % 3], [f"s{i}", f"t{i}"]) for i in range(12)]
        return await asyncio.gather(*jobs)

    outcomes, batches = batcher_run(work, max_batch_size=5, max_wait_s=0.05)
    for i, outcome in enumerate(outcomes):
        assert outcome.results == [f"{keys[i % 3]}:s{i}", f"{keys[i % 3]}:t{i}"]
    for key, sentences in batches:
        owners = {keys[int(s[1:]) % 3] for s in sentences}
        assert owners == {key}, (key, sentences)
    assert len(batches) < 12  # jobs of one key were batched together


def test_a_withdrawn_job_leaves_the_others_and_the_batcher_working() -> None:
    """Cancelling a job in a running batch drops its results; one still waiting never
    reaches the model; the other jobs of the batch and later jobs get their answers."""
    gate = threading.Event()

    def run(key: Any, sentences: list[str]) -> list[str]:
        assert gate.wait(ASYNC_TIMEOUT)
        seen.append(list(sentences))
        return [s.upper() for s in sentences]

    seen: list[list[str]] = []

    async def main() -> tuple[list, list, list]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(run, executor, max_batch_size=2, max_wait_s=0.0)
            batcher.start()
            in_batch = asyncio.ensure_future(batcher.submit("k", ["a"]))
            neighbour = asyncio.ensure_future(batcher.submit("k", ["b"]))
            waiting = asyncio.ensure_future(batcher.submit("k", ["c"]))
            while not batcher.stats.running_batch:
                await asyncio.sleep(0.005)
            in_batch.cancel()
            waiting.cancel()
            await asyncio.sleep(0.01)
            gate.set()
            later = await asyncio.wait_for(batcher.submit("k", ["d"]), ASYNC_TIMEOUT)
            near = await asyncio.wait_for(neighbour, ASYNC_TIMEOUT)
            stats = batcher.stats
            await batcher.stop()
            return near.results, later.results, [stats.abandoned_jobs, stats.sentences]

    near, later, counts = asyncio.run(main())
    assert near == ["B"] and later == ["D"]
    assert seen == [["a", "b"], ["d"]]  # "c" was withdrawn before its batch
    assert counts == [2, 3]


def test_a_failing_batch_fails_its_jobs_only() -> None:
    async def work(batcher: Batcher, _batches: list) -> tuple[Any, Any]:
        failed = await asyncio.gather(batcher.submit("k", ["boom"]), return_exceptions=True)
        after = await batcher.submit("k", ["fine"])
        return failed[0], after.results

    (error, after), _ = batcher_run(work, max_batch_size=4, max_wait_s=0.0, fail_on="boom")
    assert isinstance(error, ValueError) and after == ["k:fine"]


# --- continuous batching: sentences join a running search ------------------------------


class FakeStream:
    """A search of one key, stepped by the test: ``word:n`` finishes ``n`` steps after it
    joined, as ``key:word``; ``boom`` fails the step it is in.  Records what it saw."""

    def __init__(self, key: Any, ticks: threading.Semaphore | None = None) -> None:
        self.key = key
        self.ticks = ticks  # set: each step waits for one
        self.left: dict[Any, tuple[str, int]] = {}
        self.added: list[str] = []
        self.joins: list[list[str]] = []  # the sentences of each add, in order
        self.most_live = 0
        self.steps = 0

    @property
    def live(self) -> int:
        return len(self.left)

    def add(self, tags: list[Any], sentences: list[str]) -> None:
        for tag, sentence in zip(tags, sentences, strict=True):
            self.left[tag] = (sentence, int(sentence.partition(":")[2] or 1))
        self.added += sentences
        self.joins.append(list(sentences))
        self.most_live = max(self.most_live, self.live)

    def step(self) -> list[tuple[Any, str]]:
        if self.ticks is not None:
            assert self.ticks.acquire(timeout=ASYNC_TIMEOUT)
        self.steps += 1
        if any(sentence == "boom" for sentence, _ in self.left.values()):
            raise ValueError("boom")
        done = []
        for tag, (sentence, steps) in list(self.left.items()):
            if steps == 1:
                done.append((tag, f"{self.key}:{sentence.partition(':')[0]}"))
                del self.left[tag]
            else:
                self.left[tag] = (sentence, steps - 1)
        return done


def stream_run(work: Callable[[Batcher, list[FakeStream]], Awaitable[Any]], max_batch_size: int,
               max_wait_s: float, ticks: threading.Semaphore | None = None,
               ) -> tuple[Any, list[FakeStream]]:
    """Run ``work(batcher, streams)`` on a batcher whose every key searches continuously."""
    from concurrent.futures import ThreadPoolExecutor

    streams: list[FakeStream] = []

    def open_stream(key: Any) -> FakeStream:
        streams.append(FakeStream(key, ticks))
        return streams[-1]

    def no_batches(key: Any, sentences: list[str]) -> list[str]:
        raise AssertionError("a batch where a search runs")

    async def main() -> Any:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(no_batches, executor, max_batch_size, max_wait_s, open_stream)
            batcher.start()
            try:
                return await asyncio.wait_for(work(batcher, streams), ASYNC_TIMEOUT)
            finally:
                if ticks is not None:
                    ticks.release(1000)
                await batcher.stop()

    return asyncio.run(main()), streams


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.002)


def test_sentences_join_a_running_search_and_are_answered_when_done() -> None:
    """A short sentence that joins while a long one runs is answered at once, not when
    the long one ends; the search holds at most max_batch_size sentences."""
    ticks = threading.Semaphore(0)

    async def work(batcher: Batcher, streams: list[FakeStream]) -> dict[str, Any]:
        long = asyncio.ensure_future(batcher.submit("k", ["long:6"]))
        await until(lambda: bool(streams) and streams[0].live == 1)  # in its first step
        short = asyncio.ensure_future(batcher.submit("k", ["short:1"]))
        pair = asyncio.ensure_future(batcher.submit("k", ["a:2", "b:3"]))
        more = asyncio.ensure_future(batcher.submit("k", ["c:1"]))
        await until(lambda: batcher.stats.queued_sentences == 4)
        ticks.release()  # step 1: the long one alone
        await until(lambda: streams[0].live == 3)  # short and a join: the limit
        ticks.release()  # step 2: short done
        answered = await short
        waiting_then = [long.done(), pair.done(), more.done()]
        ticks.release(10)
        return {"short": answered, "waiting": waiting_then, "long": await long,
                "pair": await pair, "more": await more, "stats": batcher.stats}

    got, streams = stream_run(work, max_batch_size=3, max_wait_s=0.0, ticks=ticks)
    assert got["short"].results == ["k:short"] and got["waiting"] == [False, False, False]
    assert got["long"].results == ["k:long"] and got["pair"].results == ["k:a", "k:b"]
    assert got["more"].results == ["k:c"]
    assert len(streams) == 1 and streams[0].most_live == 3  # one search, never over the limit
    assert streams[0].added == ["long:6", "short:1", "a:2", "b:3", "c:1"]
    assert got["pair"].batches == 1 and got["stats"].batches == 1
    assert got["stats"].sentences == 5 and got["stats"].queued_sentences == 0


def test_sentences_join_a_running_search_in_groups_or_after_the_maximum_wait() -> None:
    """A lone sentence does not join a running search at the next step but waits for
    company (JOIN_GROUP sentences join at once) or, at most, for max_wait."""
    from ea_mt.serving.batching import JOIN_GROUP

    ticks = threading.Semaphore(0)
    max_wait_s = 1.0

    async def work(batcher: Batcher, streams: list[FakeStream]) -> dict[str, Any]:
        long = asyncio.ensure_future(batcher.submit("k", ["long:100000"]))
        await until(lambda: bool(streams) and streams[0].live == 1)
        lone = asyncio.ensure_future(batcher.submit("k", ["lone:1"]))
        await until(lambda: batcher.stats.queued_sentences == 1)
        ticks.release(2)
        await until(lambda: streams[0].steps == 2)
        alone_after_two_steps = list(streams[0].added)
        group = [asyncio.ensure_future(batcher.submit("k", [f"g{i}:1"]))
                 for i in range(JOIN_GROUP - 1)]
        await until(lambda: batcher.stats.queued_sentences == JOIN_GROUP)
        ticks.release(2)  # the step under way, then the group's one step
        await asyncio.gather(lone, *group)
        late = asyncio.ensure_future(batcher.submit("k", ["late:1"]))
        started = time.perf_counter()
        while not late.done():  # steps go on; the late one joins after max_wait
            ticks.release()
            await asyncio.sleep(0.01)
        return {"alone": alone_after_two_steps, "late_s": time.perf_counter() - started,
                "late": (await late).results, "long_running": not long.done()}

    got, streams = stream_run(work, max_batch_size=8, max_wait_s=max_wait_s, ticks=ticks)
    assert got["alone"] == ["long:100000"] and got["long_running"]
    assert streams[0].joins[:2] == [["long:100000"], ["lone:1", *(f"g{i}:1" for i in
                                                               range(JOIN_GROUP - 1))]]
    assert streams[0].joins[2] == ["late:1"] and got["late"] == ["k:late"]
    assert got["late_s"] >= max_wait_s * 0.9


def test_keys_take_turns_and_never_share_a_search() -> None:
    keys = ["beam5", "beam1", ("other", None)]

    async def work(batcher: Batcher, _streams: list) -> list:
        jobs = [batcher.submit(keys[i % 3], [f"s{i}:{1 + i % 4}", f"t{i}:2"]) for i in range(12)]
        return await asyncio.gather(*jobs)

    outcomes, streams = stream_run(work, max_batch_size=5, max_wait_s=0.01)
    for i, outcome in enumerate(outcomes):
        assert outcome.results == [f"{keys[i % 3]}:s{i}", f"{keys[i % 3]}:t{i}"]
    for stream in streams:
        assert {keys[int(s.split(":")[0][1:]) % 3] for s in stream.added} == {stream.key}
    assert sum(len(stream.added) for stream in streams) == 24 and len(streams) < 12


def test_a_withdrawn_job_leaves_a_running_search_undisturbed() -> None:
    """Cancelling a job whose sentence is in the search drops its result; one still
    waiting never joins; the others are answered and the batcher goes on."""
    ticks = threading.Semaphore(0)

    async def work(batcher: Batcher, streams: list[FakeStream]) -> tuple[Any, ...]:
        inside = asyncio.ensure_future(batcher.submit("k", ["in:3"]))
        neighbour = asyncio.ensure_future(batcher.submit("k", ["near:2"]))
        await until(lambda: bool(streams) and streams[0].live == 2)
        waiting = asyncio.ensure_future(batcher.submit("k", ["wait:1"]))  # the search is full
        await until(lambda: batcher.stats.queued_sentences == 1)
        inside.cancel()
        waiting.cancel()
        await until(lambda: batcher.stats.abandoned_jobs == 2)
        ticks.release(3)
        near = await neighbour
        ticks.release(5)
        later = await batcher.submit("k", ["later:1"])
        return near.results, later.results, batcher.stats

    (near, later, stats), streams = stream_run(work, max_batch_size=2, max_wait_s=0.0,
                                               ticks=ticks)
    assert near == ["k:near"] and later == ["k:later"]
    assert "wait:1" not in [s for stream in streams for s in stream.added]
    assert stats.abandoned_jobs == 2 and stats.queued_sentences == 0


def test_other_work_for_the_model_thread_makes_a_search_drain() -> None:
    """While an inspection waits for the model thread, a search takes no more sentences:
    it ends when its own do, and the waiting ones start the next search."""
    ticks = threading.Semaphore(0)

    async def work(batcher: Batcher, streams: list[FakeStream]) -> list[list[str]]:
        first = asyncio.ensure_future(batcher.submit("k", ["long:3"]))
        await until(lambda: bool(streams) and streams[0].live == 1)
        with batcher.other_work():
            later = asyncio.ensure_future(batcher.submit("k", ["later:1"]))
            await until(lambda: batcher.stats.queued_sentences == 1)
            ticks.release(3)
            await first
            await until(lambda: len(streams) == 2)  # the next search, not the first, took it
        ticks.release(5)
        await later
        return [stream.added for stream in streams]

    added, _ = stream_run(work, max_batch_size=4, max_wait_s=0.0, ticks=ticks)
    assert added == [["long:3"], ["later:1"]]


def test_a_failing_search_fails_its_jobs_only() -> None:
    async def work(batcher: Batcher, _streams: list) -> tuple[Any, Any]:
        failed = await asyncio.gather(batcher.submit("k", ["fine:2", "boom"]),
                                      return_exceptions=True)
        after = await batcher.submit("k", ["fine"])
        return failed[0], after.results

    (error, after), streams = stream_run(work, max_batch_size=4, max_wait_s=0.0)
    assert isinstance(error, ValueError) and after == ["k:fine"]
    assert len(streams) == 2  # the failed search was dropped; the next one is new


# --- endpoints and bad input, on the stand-in translator -------------------------------


def test_translate_answers_texts_scores_alignments_and_timing() -> None:
    service, fake = fake_service()
    with session(create_app(service)) as client:
        one = client.post("/translate", json={"text": "hello"})
        many = client.post("/translate", json={"texts": ["a", "", "b"], "beam": 3, "nbest": 2,
                                                 "alignment": True})
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["translations"][0]["text"] == "HELLO|b5|0"
    assert body["translations"][0]["score"] == 0.0
    assert (body["model"], body["beam"], body["nbest"], body["warnings"]) == ("default", 5, 1, [])
    assert set(body["timing"]) == {"total_ms", "queued_ms", "model_ms", "batches"}
    assert many.status_code == 200, many.text
    texts = [t["text"] for t in many.json()["translations"]]
    assert texts == ["A|b3|0", "", "B|b3|0"]
    first = many.json()["translations"][0]
    assert [h["text"] for h in first["hypotheses"]] == ["A|b3|0", "A|b3|1"]
    assert first["alignment"] == "0-0"
    assert many.json()["translations"][1]["hypotheses"] == []


def test_models_health_openapi_and_the_page() -> None:
    service, _ = fake_service(max_sentences=7)
    with session(create_app(service)) as client:
        models = client.get("/models").json()
        health = client.get("/health").json()
        spec = client.get("/openapi.json").json()
        page = client.get("/")
        script = client.get("/static/app.js")
    assert models["default"] == "default"
    assert models["models"][0]["checkpoint"] == "checkpoint_best.pt"  # no server path
    assert models["limits"]["max_sentences"] == 7
    assert models["defaults"] == {"beam": 5, "nbest": 1}
    assert health["status"] == "ok" and health["requests_in_flight"] == 0
    assert {"/translate", "/inspect", "/models", "/health"} <= set(spec["paths"])
    schema = spec["paths"]["/translate"]["post"]["requestBody"]["content"]["application/json"]
    assert {"text", "texts", "model", "beam", "nbest", "alignment"} <= set(
        schema["schema"]["properties"])
    assert page.status_code == 200 and 'src="/static/app.js"' in page.text
    assert script.status_code == 200 and "/inspect" in script.text
    links = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert links and all(link.startswith(("/static/", "data:")) for link in links)  # offline


def test_health_answers_while_a_batch_is_translated() -> None:
    service, fake = fake_service(max_wait_ms=0)
    fake.gate = threading.Event()

    async def work(client: httpx.AsyncClient) -> tuple[dict, int]:
        pending = asyncio.ensure_future(client.post("/translate", json={"text": "slow"}))
        while not fake.started.is_set():
            await asyncio.sleep(0.005)
        health = (await client.get("/health")).json()  # the model thread is busy
        fake.gate.set()
        return health, (await pending).status_code

    health, status = run_async(create_app(service), work)
    assert health["running_batch"] is True and health["requests_in_flight"] == 1
    assert status == 200


LONG = "word " * 30
BAD_INPUTS = [
    # (body, status, part of the error)
    (b"", 400, "empty"),
    (b'{"text": ', 400, "not valid JSON"),
    (b'{"text": "caf\xe9"}', 400, "not UTF-8: byte 0xe9 at offset 13"),
    (b"\xff\xfe{\x00}\x00", 400, "not UTF-8"),
    (b'{"text": "a", "beam": NaN}', 400, "NaN is not a number"),
    (b"[" * 10_000, 400, "nested too deeply"),
    (b"[1, 2]", 422, "must be a JSON object, not an array"),
    (b'"hello"', 422, "must be a JSON object, not a string"),
    (b"{}", 422, 'either "text"'),
    (b'{"text": "a", "texts": ["b"]}', 422, 'either "text"'),
    (b'{"text": 5}', 422, "text: Input should be a valid string"),
    (b'{"text": null}', 422, 'either "text"'),
    (b'{"texts": "abc"}', 422, "texts: Input should be a valid list"),
    (b'{"texts": ["a", 3]}', 422, "texts[1]: Input should be a valid string"),
    (b'{"texts": []}', 422, "texts: List should have at least 1 item"),
    (b'{"text": "a", "beam": "5"}', 422, "beam: Input should be a valid integer"),
    (b'{"text": "a", "beam": true}', 422, "beam: Input should be a valid integer"),
    (b'{"text": "a", "beam": 2.5}', 422, "beam: Input should be a valid integer"),
    (b'{"text": "a", "beam": 0}', 422, "beam 0: this server takes 1 to 10"),
    (b'{"text": "a", "beam": 11}', 422, "beam 11: this server takes 1 to 10"),
    (b'{"text": "a", "beam": 100000000000000000000}', 422, "beam"),
    (b'{"text": "a", "beam": 2, "nbest": 3}', 422, "nbest 3: must be 1 to the beam size (2)"),
    (b'{"text": "a", "nbest": 0}', 422, "nbest 0"),
    (b'{"text": "a", "alignment": "yes"}', 422, "alignment: Input should be a valid boolean"),
    (b'{"text": "a", "alignment_layer": 0}', 422, "alignment_layer needs alignment: true"),
    (b'{"text": "a", "alignment": true, "alignment_layer": 2}', 422,
     "alignment_layer 2: the model's decoder has layers 0 to 1"),
    (b'{"text": "a", "colour": "red"}', 422, "colour: Extra inputs are not permitted"),
    (b'{"text": "a", "model": "nope"}', 404, "unknown model 'nope'; this server has: default"),
    (b'{"text": "a", "model": 1}', 422, "model: Input should be a valid string"),
    (b'{"text": "one\\ntwo"}', 422, "text holds a line break"),
    (b'{"texts": ["ok", "one\\u2028two"]}', 422, "texts[1] holds a line break"),
    (b'{"text": "\\ud800"}', 422, "text holds an unpaired surrogate (\\ud800)"),
    (json.dumps({"texts": ["a"] * 8}).encode(), 413, "8 texts; this server takes at most 7"),
    (json.dumps({"texts": [LONG]}).encode(), 413, "150 characters; this server takes at most 100"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_INPUTS,
                         ids=[m for _, _, m in BAD_INPUTS])
def test_bad_input_gets_a_4xx_naming_the_problem(body: bytes, status: int, message: str) -> None:
    service, fake = fake_service(max_sentences=7, max_chars=100)
    with session(create_app(service)) as client:
        response = client.post("/translate", content=body,
                               headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["error"], response.json()
    assert fake.calls == []  # nothing reached the model


def test_request_size_limit_applies_before_parsing() -> None:
    service, _ = fake_service(max_chars=100, max_sentences=2)
    limit = service.settings.max_body_bytes
    big = b'{"text": "' + b"a" * (4 * limit) + b'"}'
    sent: list[int] = []
    with session(create_app(service)) as client:
        declared = client.post("/translate", content=big)

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: bytes are counted
            for start in range(0, len(big), 4096):
                sent.append(start)
                yield big[start:start + 4096]

        streamed = client.post("/translate", content=chunks())
    assert declared.status_code == 413, declared.text
    assert f"this server reads at most {limit}" in declared.json()["error"]
    assert streamed.status_code == 413, streamed.text
    assert f"exceeds {limit} bytes" in streamed.json()["error"]
    assert len(sent) < -(-len(big) // 4096)  # it stopped reading at the limit


def test_unknown_paths_and_methods_get_json_errors() -> None:
    service, _ = fake_service()
    with session(create_app(service)) as client:
        missing = client.get("/nothing")
        wrong = client.get("/translate")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_api_key_protects_everything_but_health_and_the_page(monkeypatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = ea_mt.serving.auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(ea_mt.serving.auth.hmac, "compare_digest", spy)
    service, fake = fake_service()
    good = {"Authorization": f"Bearer {KEY}"}
    wrong = [{}, {"Authorization": "Bearer nope"}, {"Authorization": KEY},
             {"Authorization": f"Basic {KEY}"}, {"Authorization": f"Bearer {KEY}x"}]
    with session(create_app(service, api_key=KEY)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/").status_code == 200
        assert client.get("/static/app.js").status_code == 200
        for headers in wrong:
            for method, path in (("GET", "/models"), ("POST", "/translate"),
                                 ("POST", "/inspect"), ("GET", "/openapi.json")):
                response = client.request(method, path, headers=headers, json={"text": "a"})
                assert response.status_code == 401, (path, headers)
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert "API key" in response.json()["error"]
        assert fake.calls == []
        assert client.get("/models", headers=good).status_code == 200
        assert client.get("/openapi.json", headers=good).status_code == 200
        ok = client.post("/translate", headers=good, json={"text": "a"})
        assert ok.status_code == 200 and ok.json()["translations"][0]["text"] == "A|b5|0"
    assert (KEY.encode(), KEY.encode()) in compared


def test_serve_refuses_bad_options_in_one_line(tmp_path: Path) -> None:
    cases = [
        (["--model", "nameonly"], "write NAME=PATH"),
        (["--model", "a b=x"], "a name is letters"),
        (["--model", f"x={tmp_path / 'none'}"], "no such file or directory"),
        (["--model", f"x={tmp_path}", "--model", f"x={tmp_path}"], "the name is given twice"),
        (["--max-batch-size", "0"], "--max-batch-size must be at least 1"),
        (["--max-wait-ms", "nan"], "--max-wait-ms must be a number >= 0"),
        (["--max-chars", "0"], "--max-chars must be at least 1"),
        (["-w", str(tmp_path)], "no checkpoint_best.pt or checkpoint_last.pt"),
        (["--api-key", " "], "--api-key (or $EA_MT_API_KEY) is empty"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(cli_app, ["serve", *args])
        errors = [line for line in result.stderr.splitlines() if line.startswith("ea-mt: error")]
        assert result.exit_code == 2 and len(errors) == 1, (args, result.stderr)
        assert message in errors[0], (args, errors)
        assert "Traceback" not in result.stderr


# --- the real model: equivalence with `ea-mt translate`, truncation, /inspect ----------


@dataclass(frozen=True)
class Ref:
    text: str
    score: float | None
    alignment: str | None


def cli_reference(model: TrainedModel, lines: list[str], beam: int, nbest: int,
                  alignment: bool) -> list[list[Ref]]:
    """Each line's n-best list from ``ea-mt translate --nbest N`` (TSV)."""
    args = ["translate", "-w", str(model.workdir), "--threads", "1", "-q", "--beam", str(beam),
            "--nbest", str(nbest), *(["--print-alignment"] if alignment else [])]
    result = CliRunner().invoke(cli_app, args, input="".join(f"{line}\n" for line in lines))
    assert result.exit_code == 0, result.stderr
    refs: list[list[Ref]] = [[] for _ in lines]
    for row in result.stdout.splitlines():
        number, _rank, score, text, *rest = row.split("\t")
        if score:
            refs[int(number) - 1].append(Ref(text, float(score), rest[0] if rest else None))
    return refs


def same(answer: dict, refs: list[Ref]) -> bool:
    """A served translation equals ``ea-mt translate``'s (scores to its 4 decimals)."""
    got = answer["hypotheses"]
    return len(got) == len(refs) and all(
        h["text"] == r.text and h["alignment"] == r.alignment and abs(h["score"] - r.score) < 2e-4
        for h, r in zip(got, refs, strict=True)
    )


@pytest.fixture(scope="module")
def vanilla_models(trained_model: TrainedModel) -> ModelSet:
    return load_models(trained_model.workdir, None, [], ServeSettings(max_batch_size=5),
                       device="cpu")


GROUPS = {  # decoding choices that must never be batched together
    "beam5": {"beam": 5, "nbest": 1, "alignment": False},
    "beam2-nbest2-aligned": {"beam": 2, "nbest": 2, "alignment": True},
    "beam1": {"beam": 1, "nbest": 1, "alignment": False},
}


@pytest.mark.slow
def test_concurrent_requests_equal_ea_mt_translate(
    trained_model: TrainedModel, vanilla_models: ModelSet
) -> None:
    """Requests of three decoding choices, split and interleaved at random, each answer
    what ``ea-mt translate`` writes for the same lines with the same choices."""
    lines = (trained_model.raw / "test.en").read_text(encoding="utf-8").splitlines()[:16]
    lines += ["", "Ça va? 😀"]
    refs = {name: cli_reference(trained_model, lines, **group) for name, group in GROUPS.items()}
    assert [r[0].text for r in refs["beam1"] if r] != [r[0].text for r in refs["beam5"] if r]

    rng = random.Random(13)
    requests = []
    for name in GROUPS:
        order = list(range(len(lines)))
        rng.shuffle(order)
        while order:
            size = rng.randint(1, 4)
            chunk, order = order[:size], order[size:]
            requests.append((name, chunk, rng.random() * 0.03))
    rng.shuffle(requests)
    service = TranslationService(vanilla_models, ServeSettings(max_batch_size=5, max_wait_ms=20))

    async def send(client: httpx.AsyncClient, name: str, chunk: list[int], delay: float) -> Any:
        await asyncio.sleep(delay)
        texts = [lines[i] for i in chunk]
        body = {"text": texts[0]} if len(chunk) == 1 else {"texts": texts}
        response = await client.post("/translate", json={**body, **GROUPS[name]})
        assert response.status_code == 200, response.text
        return response.json()

    async def work(client: httpx.AsyncClient) -> list:
        return await asyncio.gather(*(send(client, *r) for r in requests))

    answers = run_async(create_app(service), work)
    for (name, chunk, _), answer in zip(requests, answers, strict=True):
        for i, translation in zip(chunk, answer["translations"], strict=True):
            assert same(translation, refs[name][i]), (name, lines[i], translation, refs[name][i])
    assert service.batcher.stats.sentences == len(lines) * len(GROUPS)
    assert service.batcher.stats.batches < len(requests)  # so some batch mixed requests


@pytest.mark.slow
def test_an_overlong_sentence_is_truncated_with_a_warning(
    trained_model: TrainedModel, vanilla_models: ModelSet
) -> None:
    long = " ".join(["the house is big"] * 60)
    short = "I like tea."
    service = TranslationService(vanilla_models, ServeSettings())
    with session(create_app(service)) as client:
        answer = client.post("/translate", json={"texts": [short, long]}).json()
    refs = cli_reference(trained_model, [short, long], beam=5, nbest=1, alignment=False)
    assert [t["truncated"] for t in answer["translations"]] == [False, True]
    assert answer["warnings"][0] == (f"texts[1]: longer than the model's "
                                     f"{trained_model.max_positions - 1} source pieces: truncated "
                                     "to fit")
    assert all(same(t, r) for t, r in zip(answer["translations"], refs, strict=True))


def same_result(answer: dict, result: LineResult) -> bool:
    """A served translation equals a LineResult of ``translate_batch`` (scores to 1e-4)."""
    got = answer["hypotheses"]
    return (
        len(got) == len(result.hypotheses)
        and (answer["truncated"], answer["stopped_at_max_len"]) == (result.truncated,
                                                                    result.hit_max_len)
        and all(h["text"] == r.text and h["alignment"] == r.alignment
                and abs(h["score"] - r.score) <= 1e-4
                for h, r in zip(got, result.hypotheses, strict=True))
    )


CHOICES = {  # decoding choices of the clients below
    "beam5": {"beam": 5, "nbest": 1, "alignment": False},
    "beam3-nbest2-aligned": {"beam": 3, "nbest": 2, "alignment": True},
    "beam1": {"beam": 1, "nbest": 1, "alignment": False},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["trained_model", "ea_model"])
def test_many_clients_one_sentence_at_a_time_get_what_translate_batch_gives(
    request: pytest.FixtureRequest, name: str
) -> None:
    """Twelve clients send one sentence after another, of three decoding choices, into
    searches of at most four sentences that they join as they come: every answer is
    ``translate_batch``'s for that line, blank and over-long lines included."""
    model: TrainedModel = request.getfixturevalue(name)
    with torch_threads(1):  # torch's own choice crawls on a loaded machine
        clients_against_references(model)


def clients_against_references(model: TrainedModel) -> None:
    from ea_mt.decoding.continuous import ContinuousTranslation
    from ea_mt.serving.service import DecodeKey

    settings = ServeSettings(max_batch_size=4, max_wait_ms=1)
    models = load_models(model.workdir, None, [], settings, device="cpu")
    service = TranslationService(models, settings)
    key = DecodeKey("default", 5, 1, None)
    assert isinstance(service._open_stream(key), ContinuousTranslation)
    lines = (model.raw / "test.en").read_text(encoding="utf-8").splitlines()[:16]
    lines[5:5] = ["", "Ça va? 😀", " ".join(["the house is big"] * 40)]
    translator = models.translators["default"]
    refs = {
        choice: translator.with_options(beam=o["beam"], nbest=o["nbest"]).translate_batch(
            lines, alignment_layer=len(translator.model.decoder.layers) - 1
            if o["alignment"] else None)
        for choice, o in CHOICES.items()
    }
    rng = random.Random(5)
    work_list = [(choice, i) for choice in CHOICES for i in range(len(lines))]
    rng.shuffle(work_list)
    answers: list[tuple[str, int, dict]] = []

    async def client(http_client: httpx.AsyncClient) -> None:
        while work_list:
            choice, i = work_list.pop()
            await asyncio.sleep(rng.random() * 0.01)
            response = await http_client.post("/translate",
                                              json={"text": lines[i], **CHOICES[choice]})
            assert response.status_code == 200, response.text
            answers.append((choice, i, response.json()))

    async def work(http_client: httpx.AsyncClient) -> None:
        await asyncio.gather(*(client(http_client) for _ in range(12)))

    run_async(create_app(service), work)
    assert len(answers) == len(lines) * len(CHOICES)
    for choice, i, answer in answers:
        assert same_result(answer["translations"][0], refs[choice][i]), (choice, lines[i])
    stats = service.batcher.stats
    assert stats.sentences == len(answers) and stats.batches <= len(answers) // 2


@pytest.mark.slow
def test_a_client_leaving_a_running_search_does_not_disturb_the_others(
    trained_model: TrainedModel, vanilla_models: ModelSet
) -> None:
    """A request cancelled while its sentences are being translated: the others of the
    same search get ``translate_batch``'s results, and the server goes on."""
    lines = (trained_model.raw / "test.en").read_text(encoding="utf-8").splitlines()[:8]
    leaving = ["Where is the station?", " ".join(["the house is big"] * 40)]
    service = TranslationService(vanilla_models, ServeSettings(max_batch_size=16,
                                                               max_wait_ms=20))

    async def work(client: httpx.AsyncClient) -> tuple[list, dict, dict]:
        stats = service.batcher.stats
        staying = [asyncio.ensure_future(client.post("/translate", json={"text": line}))
                   for line in lines]
        gone = asyncio.ensure_future(client.post("/translate", json={"texts": leaving}))
        await until(lambda: stats.running_batch and stats.queued_sentences == 0)
        gone.cancel()
        answers = [(await task).json() for task in staying]
        after = (await client.post("/translate", json={"text": lines[0]})).json()
        return answers, after, (await client.get("/health")).json()

    with torch_threads(1):
        refs = vanilla_models.translators["default"].translate_batch(lines)
        answers, after, health = run_async(create_app(service), work)
    for answer, ref in zip(answers, refs, strict=True):
        assert same_result(answer["translations"][0], ref)
    assert same_result(after["translations"][0], refs[0])
    assert health["abandoned_requests"] == 1 and health["requests_in_flight"] == 0


@pytest.mark.slow
def test_a_model_on_fairseqs_decoder_is_batched_a_batch_at_a_time(
    trained_model: TrainedModel,
) -> None:
    from ea_mt.serving.service import DecodeKey

    settings = ServeSettings(max_batch_size=4)
    models = load_models(trained_model.workdir, None, [], settings, device="cpu",
                         decoder="fairseq")
    service = TranslationService(models, settings)
    assert service._open_stream(DecodeKey("default", 5, 1, None)) is None
    lines = ["I like tea.", "Where is the station?", ""]
    with torch_threads(1), session(create_app(service)) as client:
        refs = models.translators["default"].translate_batch(lines)
        answer = client.post("/translate", json={"texts": lines}).json()
    assert all(same_result(a, r) for a, r in zip(answer["translations"], refs, strict=True))
    assert answer["timing"]["batches"] == 1


def decode(array: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(array["data"]), "<f4").reshape(array["shape"])


@pytest.mark.slow
def test_inspect_sends_the_maps_and_statistics_of_ea_mt_inspect(ea_model: TrainedModel) -> None:
    from ea_mt.inspection.sentence import inspect_sentence, report

    models = load_models(ea_model.workdir, None, [], ServeSettings(), device="cpu")
    service = TranslationService(models, ServeSettings(max_inspect_pieces=12))
    source, target = "Tom is my friend.", "Tom ist mein Freund."
    with session(create_app(service)) as client:
        answer = client.post("/inspect", json={"text": source, "target": target})
        too_long = client.post("/inspect", json={"text": "a b c d e f g h i j k l m n o p"})
        empty = client.post("/inspect", json={"text": " "})
        wrong = client.post("/inspect", json={"text": ["a"]})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    expected = inspect_sentence([models.translators["default"]], source, target)
    statistics = report(expected)
    assert data["tokens"] == statistics["tokens"] and data["target"] == target
    model = data["models"][0]
    assert model["checkpoint"] == "default"  # the name, not the server's path
    for chain, layers in expected.models[0].chains.items():
        assert len(model["chains"][chain]) == len(layers)
        for row, want, maps in zip(model["chains"][chain], statistics["models"][0]["chains"][chain],
                                   layers, strict=True):
            assert row["entropy"] == want["entropy"] and row["conv_share"] == want["conv_share"]
            names = {"mixed", "evolved", "weights"} if row["layer"] else {"logits", "weights"}
            assert names <= set(row["arrays"])
            for name, array in row["arrays"].items():
                np.testing.assert_allclose(decode(array), maps[name].numpy(), rtol=1e-6)
    assert too_long.status_code == 413 and "at most 12 (max_inspect_pieces)" in too_long.text
    assert empty.status_code == 422 and "the source sentence is empty" in empty.text
    assert wrong.status_code == 422 and "text: Input should be a valid string" in wrong.text


# --- a real `ea-mt serve` process ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    process: subprocess.Popen
    url: str
    port: int
    log: Path

    def get(self, path: str, headers: dict | None = None) -> tuple[int, Any]:
        return http("GET", self.url + path, None, headers)

    def post(self, path: str, body: Any, headers: dict | None = None) -> tuple[int, Any]:
        return http("POST", self.url + path, body, headers)

    def wait_for(self, what: Callable[[dict], bool], timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.get("/health")[1]
            if what(health):
                return health
            time.sleep(0.05)
        raise AssertionError(f"/health never showed it: {health}")


def http(method: str, url: str, body: Any = None, headers: dict | None = None,
         timeout: float = 120) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextmanager
def ea_mt_serve(model: TrainedModel | str, tmp_path: Path, *args: str,
                env: dict[str, str] | None = None) -> Iterator[Served]:
    """``ea-mt serve`` of a fixture model's work directory or a bundled model's name, on
    127.0.0.1 (its default) and a free port, run in ``tmp_path``, stopped at the end."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    source = ["--model", model] if isinstance(model, str) else ["-w", str(model.workdir)]
    command = [str(Path(sys.executable).parent / "ea-mt"), "serve", *source,
               "--port", str(port), "--threads", "1", "--device", "cpu", *args]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
                                   cwd=tmp_path,
                                   env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    served = Served(process, f"http://127.0.0.1:{port}", port, log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no answer on {served.url}:\n{log.read_text()}"
            try:
                if served.get("/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.slow
def test_sigterm_stops_taking_requests_and_finishes_those_in_flight(
    trained_model: TrainedModel, tmp_path: Path
) -> None:
    texts = ["I like tea.", "Where is the station?"]
    refs = cli_reference(trained_model, texts, beam=5, nbest=1, alignment=False)
    # A request in flight waits up to 4 s for its batch to fill: SIGTERM arrives meanwhile.
    with ea_mt_serve(trained_model, tmp_path, "--max-wait-ms", "4000") as served:
        assert f"Uvicorn running on http://127.0.0.1:{served.port}" in served.log.read_text()
        answer: dict[str, Any] = {}

        def send() -> None:
            answer["status"], answer["body"] = served.post("/translate", {"texts": texts})

        client = threading.Thread(target=send)
        client.start()
        served.wait_for(lambda h: h["requests_in_flight"] == 1)
        served.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not refused(served.port):
            assert time.monotonic() < deadline, "still taking connections after SIGTERM"
            time.sleep(0.05)
        assert client.is_alive()  # refused new ones while this one was still in flight
        client.join(60)
        assert answer["status"] == 200, answer
        assert all(same(t, r) for t, r in zip(answer["body"]["translations"], refs, strict=True))
        returncode = served.process.wait(30)
    log = served.log.read_text()
    assert returncode in (0, -signal.SIGTERM), log
    assert "Traceback" not in log and "Application shutdown complete" in log


@pytest.mark.slow
def test_a_client_that_disconnects_does_not_disturb_the_others(
    trained_model: TrainedModel, tmp_path: Path
) -> None:
    """The API key comes from the environment; a client that leaves has its sentences
    withdrawn, while another client's request is answered as `ea-mt translate` would."""
    texts = ["Where is the station?", "I like tea."]
    refs = cli_reference(trained_model, texts, beam=5, nbest=1, alignment=False)
    auth = {"Authorization": f"Bearer {KEY}"}
    with ea_mt_serve(trained_model, tmp_path, "--max-wait-ms", "3000",
                     env={"EA_MT_API_KEY": KEY}) as served:
        assert served.get("/models")[0] == 401
        assert served.get("/models", auth)[0] == 200
        body = json.dumps({"texts": ["one.", "two.", "three."]}).encode()
        leaving = socket.create_connection(("127.0.0.1", served.port))
        leaving.sendall(b"POST /translate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Type: application/json\r\nAuthorization: Bearer "
                        + KEY.encode() + b"\r\nContent-Length: " + str(len(body)).encode()
                        + b"\r\n\r\n" + body)
        served.wait_for(lambda h: h["queued_sentences"] == 3)
        leaving.close()
        served.wait_for(lambda h: h["abandoned_requests"] == 1)
        status, answer = served.post("/translate", {"texts": texts}, auth)
        assert status == 200, answer
        assert all(same(t, r) for t, r in zip(answer["translations"], refs, strict=True))
        health = served.get("/health")[1]
    assert health["sentences"] == len(texts)  # the leaver's three never reached the model
    assert health["abandoned_requests"] == 1 and health["requests_in_flight"] == 0


def test_decoding_variants_share_the_loaded_weights() -> None:
    fake = FakeTranslator()
    models = ModelSet({"default": fake})
    variant = models.variant("default", 3, 2)
    assert variant is not fake and variant.model is fake.model
    assert (variant.options.beam, variant.options.nbest) == (3, 2)
    assert (fake.options.beam, fake.options.nbest) == (5, 1)
    assert models.variant("default", 3, 2) is variant
    assert models.variant("default", 5, 1) is fake


@pytest.mark.slow
def test_a_shipped_model_is_served_by_its_short_name(tmp_path: Path) -> None:
    """From a directory without a work directory, ``ea-mt serve --model tatoeba-en-de-ea``
    serves the bundled EA model and answers as ``Translator.load`` of that name translates."""
    name, texts = "tatoeba-en-de-ea", ["Where is the station?", "I like tea very much."]
    with torch_threads(1):
        expected = Translator.load(name, device="cpu").translate_batch(texts)
    with ea_mt_serve(name, tmp_path) as served:
        status, models = served.get("/models")
        assert status == 200 and models["default"] == name, models
        assert [(m["name"], m["arch"]) for m in models["models"]] == [
            (name, "ea_transformer_tiny")]
        status, answer = served.post("/translate", {"texts": texts})
    assert status == 200, answer
    assert all(same_result(t, r)
               for t, r in zip(answer["translations"], expected, strict=True)), answer
