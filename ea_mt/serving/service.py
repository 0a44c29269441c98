"""What the endpoints do: check a request against the limits, batch it, run it on a model.

Every model call runs on one thread (``executor``, from :func:`model_thread`): the loading,
the searches and batches of :class:`Batcher` and the inspections alike, so a model is never
used by two threads at once and the event loop stays free.  The loading too: torch's
OpenMP threads belong to the thread that first computes, and a second computing thread ran
the model at half speed on this 2-core machine (benchmarks/serve_load.py, 2026-12-01).

A model on ea-mt's fast decoder is batched continuously
(:class:`~ea_mt.decoding.continuous.ContinuousTranslation`: sentences join the running
search between its steps and are answered as soon as they are done); any other one a batch
at a time (``Translator.translate_batch``).  Decoding choices that need another beam
search (beam, nbest) get a variant of the loaded model that shares its weights.
"""

from __future__ import annotations

import asyncio
import base64
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ea_mt.decoding.alignment import check_layer
from ea_mt.errors import UserError
from ea_mt.inspection.sentence import head_counts, inspect_sentence, report
from ea_mt.serving.batching import Batcher, Outcome
from ea_mt.serving.problems import INVALID, NOT_FOUND, TOO_LARGE, ApiError
from ea_mt.serving.schemas import InspectRequest, TranslateRequest
from ea_mt.serving.settings import ServeSettings

if TYPE_CHECKING:
    from ea_mt.decoding.continuous import ContinuousTranslation
    from ea_mt.decoding.hypotheses import LineResult
    from ea_mt.decoding.translation import Translator
    from ea_mt.inspection.sentence import Inspection

# The maps /inspect sends per layer: L (a chain's first, plain layer), M, A and the softmax.
SENT_MAPS = ("logits", "mixed", "evolved", "weights")


@dataclass(frozen=True)
class DecodeKey:
    """What a batch is uniform in: sentences of different keys are never batched together."""

    model: str
    beam: int
    nbest: int
    alignment_layer: int | None


class ModelSet:
    """The served models by name (the first is the default) and their decoding variants."""

    def __init__(self, translators: dict[str, Translator]) -> None:
        if not translators:
            raise UserError("no model to serve")
        self.translators = translators
        self.default = next(iter(translators))
        self._variants: dict[tuple[str, int, int], Translator] = {}

    def name(self, requested: str | None) -> str:
        """The model a request names (None: the default); 404 for a name not served."""
        if requested is None:
            return self.default
        if requested not in self.translators:
            served = ", ".join(self.translators)
            raise ApiError(NOT_FOUND, f"unknown model {requested!r}; this server has: {served}")
        return requested

    def variant(self, name: str, beam: int, nbest: int) -> Translator:
        """The model ``name`` decoding with ``beam`` and ``nbest`` (model thread only)."""
        key = (name, beam, nbest)
        if key not in self._variants:
            self._variants[key] = self.translators[name].with_options(beam=beam, nbest=nbest)
        return self._variants[key]

    def describe(self) -> list[dict[str, Any]]:
        """Each model for ``GET /models``."""
        return [
            {
                "name": name,
                "default": name == self.default,
                "arch": t.files.arch,
                "src": t.files.src,
                "tgt": t.files.tgt,
                "checkpoint": t.files.checkpoint.name,
                "encoder_layers": len(t.model.encoder.layers),
                "decoder_layers": len(t.model.decoder.layers),
                "heads": sorted(head_counts(t.model)),
                "max_source_pieces": t.max_source_pieces,
            }
            for name, t in self.translators.items()
        ]


def model_thread(threads: int | None = None) -> ThreadPoolExecutor:
    """The one thread that loads and runs the models, with ``threads`` torch threads."""
    from ea_mt.devices import set_threads

    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ea-mt-model",
                              initializer=set_threads, initargs=(threads,))


class TranslationService:
    """Checks requests, batches translations and runs inspections on the model thread."""

    def __init__(self, models: ModelSet, settings: ServeSettings,
                 executor: ThreadPoolExecutor | None = None) -> None:
        settings.check()
        self.models = models
        self.settings = settings
        self.executor = executor or model_thread()
        self.batcher: Batcher[LineResult] = Batcher(
            self._run_batch, self.executor, settings.max_batch_size, settings.max_wait_ms / 1000,
            open_stream=self._open_stream,
        )
        self.requests_in_flight = 0

    async def start(self) -> None:
        """Start batching (on the running event loop)."""
        self.batcher.start()

    async def stop(self) -> None:
        """Stop batching and let the model thread go."""
        await self.batcher.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def defaults(self) -> dict[str, int]:
        """beam and nbest when a request names none: the library's DecodeOptions defaults."""
        options = self.models.translators[self.models.default].options
        return {"beam": options.beam, "nbest": options.nbest}

    async def translate(self, request: TranslateRequest) -> dict[str, Any]:
        """Translate a request's sentences; the answer of ``POST /translate``."""
        start = time.perf_counter()
        sentences = request.sentences
        self._check_sentences(sentences, "text" if request.text is not None else "texts")
        key = self._decode_key(request)
        outcome = await self.batcher.submit(key, sentences)
        return self._answer(request, key, outcome, time.perf_counter() - start)

    async def inspect(self, request: InspectRequest) -> dict[str, Any]:
        """The maps and statistics of one sentence; the answer of ``POST /inspect``."""
        name = self.models.name(request.model)
        beam = self._beam(request.beam)
        for field, value in (("text", request.text), ("target", request.target)):
            if value is not None:
                self._check_text(value, field)
        if len(request.text) + len(request.target or "") > self.settings.max_chars:
            raise ApiError(TOO_LARGE, f"text and target hold more than max_chars "
                           f"({self.settings.max_chars}) characters")
        loop = asyncio.get_running_loop()
        with self.batcher.other_work():  # a running search drains to let it in
            return await loop.run_in_executor(self.executor, self._inspect, name, beam, request)

    def health(self) -> dict[str, Any]:
        """The answer of ``GET /health``."""
        stats = self.batcher.stats
        return {
            "status": "ok",
            "requests_in_flight": self.requests_in_flight,
            "queued_sentences": stats.queued_sentences,
            "running_batch": stats.running_batch,
            "batches": stats.batches,
            "sentences": stats.sentences,
            "abandoned_requests": stats.abandoned_jobs,
        }

    def describe(self) -> dict[str, Any]:
        """The answer of ``GET /models``."""
        return {
            "default": self.models.default,
            "models": self.models.describe(),
            "defaults": self.defaults(),
            "limits": self.settings.describe(),
        }

    def _check_sentences(self, sentences: list[str], field: str) -> None:
        limits = self.settings
        if len(sentences) > limits.max_sentences:
            raise ApiError(TOO_LARGE, f"{len(sentences)} texts; this server takes at most "
                           f"{limits.max_sentences} (max_sentences) per request")
        chars = sum(map(len, sentences))
        if chars > limits.max_chars:
            raise ApiError(TOO_LARGE, f"{chars} characters; this server takes at most "
                           f"{limits.max_chars} (max_chars) per request")
        for index, sentence in enumerate(sentences):
            self._check_text(sentence, field if field == "text" else f"texts[{index}]")

    @staticmethod
    def _check_text(text: str, where: str) -> None:
        if "".join(text.splitlines()) != text:
            raise ApiError(INVALID, f"{where} holds a line break; send one sentence per text "
                           '(split lines into the items of "texts")')
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ApiError(INVALID, f"{where} holds an unpaired surrogate "
                           f"(\\u{ord(text[error.start]):04x})") from None

    def _beam(self, beam: int | None) -> int:
        chosen = self.defaults()["beam"] if beam is None else beam
        if not 1 <= chosen <= self.settings.max_beam:
            raise ApiError(INVALID, f"beam {chosen}: this server takes 1 to "
                           f"{self.settings.max_beam} (max_beam)")
        return chosen

    def _decode_key(self, request: TranslateRequest) -> DecodeKey:
        name = self.models.name(request.model)
        beam = self._beam(request.beam)
        if not 1 <= request.nbest <= beam:
            raise ApiError(INVALID, f"nbest {request.nbest}: must be 1 to the beam size ({beam})")
        if request.alignment_layer is not None and not request.alignment:
            raise ApiError(INVALID, "alignment_layer needs alignment: true")
        layer = None
        if request.alignment:
            try:
                layer = check_layer(self.models.translators[name].model, request.alignment_layer)
            except UserError as error:
                raise ApiError(INVALID, str(error).replace("--alignment-layer",
                                                           "alignment_layer")) from None
        return DecodeKey(name, beam, request.nbest, layer)

    def _run_batch(self, key: DecodeKey, sentences: list[str]) -> list[LineResult]:
        translator = self.models.variant(key.model, key.beam, key.nbest)
        return translator.translate_batch(sentences, alignment_layer=key.alignment_layer)

    def _open_stream(self, key: DecodeKey) -> ContinuousTranslation | None:
        """A continuous search for ``key`` (model thread), or None where the model's
        decoder cannot run one: then batches."""
        from ea_mt.decoding.continuous import ContinuousTranslation, continuous_reason

        translator = self.models.variant(key.model, key.beam, key.nbest)
        if continuous_reason(translator.generator) is not None:
            return None
        return ContinuousTranslation(translator, key.alignment_layer)

    def _answer(
        self, request: TranslateRequest, key: DecodeKey, outcome: Outcome[LineResult],
        seconds: float,
    ) -> dict[str, Any]:
        translator = self.models.translators[key.model]
        single = request.text is not None
        translations, warnings = [], []
        for index, (sentence, result) in enumerate(
            zip(request.sentences, outcome.results, strict=True)
        ):
            where = "text" if single else f"texts[{index}]"
            if result.truncated:
                warnings.append(f"{where}: longer than the model's "
                                f"{translator.max_source_pieces} source pieces: truncated to fit")
            if result.hit_max_len:
                warnings.append(f"{where}: translation stopped at the maximum length")
            if sentence.strip() and not result.text.strip():
                warnings.append(f"{where}: the model produced an empty translation")
            hypotheses = [{"text": h.text, "score": h.score, "alignment": h.alignment}
                          for h in result.hypotheses]
            best = hypotheses[0] if hypotheses else {"text": "", "score": None, "alignment": None}
            translations.append({**best, "hypotheses": hypotheses, "truncated": result.truncated,
                                 "stopped_at_max_len": result.hit_max_len})
        return {
            "model": key.model,
            "beam": key.beam,
            "nbest": key.nbest,
            "translations": translations,
            "warnings": warnings,
            "timing": {
                "total_ms": seconds * 1000,
                "queued_ms": outcome.queued_s * 1000,
                "model_ms": outcome.model_s * 1000,
                "batches": outcome.batches,
            },
        }

    def _inspect(self, name: str, beam: int, request: InspectRequest) -> dict[str, Any]:
        translator = self.models.variant(name, beam, 1)
        limit = self.settings.max_inspect_pieces
        pieces = len(translator.sp.encode(request.text, out_type=str))
        if pieces > limit:
            raise ApiError(TOO_LARGE, f"the text has {pieces} pieces; this server inspects at "
                           f"most {limit} (max_inspect_pieces)")
        inspection = inspect_sentence([translator], request.text, request.target)
        target_pieces = len(inspection.tokens.target_output) - 1
        if target_pieces > limit:
            raise ApiError(TOO_LARGE, f"the target has {target_pieces} pieces; this server "
                           f"inspects at most {limit} (max_inspect_pieces)")
        return inspection_json(inspection, name)


def inspection_json(inspection: Inspection, name: str) -> dict[str, Any]:
    """``ea-mt inspect``'s report with each layer's maps added under ``arrays``.

    A map is ``{"shape": [heads, queries, keys], "data": base64}``, the data little-endian
    float32 in row-major order (JSON has no -inf, which masked cells may hold).  The
    checkpoint is named by the model's name, not the server's path.
    """
    data = report(inspection)
    for model, maps in zip(data["models"], inspection.models, strict=True):
        model["checkpoint"] = model["label"] = name
        for chain, rows in model["chains"].items():
            for row, layer in zip(rows, maps.chains[chain], strict=True):
                row["arrays"] = {key: _encode(layer[key]) for key in SENT_MAPS if key in layer}
    return data


def _encode(tensor: Any) -> dict[str, Any]:
    array = tensor.detach().float().cpu().contiguous().numpy().astype("<f4")
    return {"shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}
