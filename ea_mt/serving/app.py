"""The FastAPI application of ``ea-mt serve``: the endpoints, error answers and the page.

Bodies are read by :mod:`ea_mt.serving.body` (size limit first, then UTF-8, JSON and the
schema), so every bad request is a 4xx ``{"error": "..."}`` naming the problem; anything
unexpected is logged with its traceback and answered 500 without it.  A translation whose
client disconnects is withdrawn from batching (see :mod:`ea_mt.serving.batching`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

import ea_mt
from ea_mt.errors import UserError
from ea_mt.serving.auth import BearerKey
from ea_mt.serving.body import read_request
from ea_mt.serving.problems import INVALID, ApiError
from ea_mt.serving.schemas import (
    ErrorResponse,
    HealthResponse,
    InspectRequest,
    ModelsResponse,
    TranslateRequest,
    TranslateResponse,
)
from ea_mt.serving.service import TranslationService

STATIC = Path(__file__).with_name("static")
CLIENT_GONE = 499  # nginx's code for a request whose client closed the connection
log = logging.getLogger("ea_mt.serving")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (400, "The body is not UTF-8 or not JSON."),
        (401, "An API key is needed."),
        (404, "Unknown model."),
        (413, "Over a limit: body size, sentences, characters or pieces."),
        (422, "Wrong types, missing or unknown fields, values out of range."),
    )
}
_INSPECT_ANSWER = (
    "The report of `ea-mt inspect` (source, target, tokens per axis, and per model, chain and "
    "layer the entropy, JSD from the previous layer and convolution share, per head and mean), "
    "each layer with `arrays`: {map name: {shape: [heads, queries, keys], data: base64 of "
    "little-endian float32}} for logits (L), mixed (M), evolved (A) and weights (softmax)."
)


def _body(model: type) -> dict[str, Any]:
    """The OpenAPI request body of a JSON endpoint whose body is read by hand."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def create_app(service: TranslationService, api_key: str | None = None) -> FastAPI:
    """The application serving ``service``; with ``api_key`` all but /health and the page
    need ``Authorization: Bearer API_KEY``."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="ea-mt",
        version=ea_mt.__version__,
        description="Translation with Evolving-Attention Transformers, and their attention "
        "maps. Errors are {\"error\": \"...\"} with a 4xx status.",
        lifespan=lifespan,
        docs_url=None,  # the interactive docs load scripts from a CDN; the page works offline
        redoc_url=None,
    )
    limit = service.settings.max_body_bytes

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.exception_handler(UserError)
    async def _user_error(_request: Request, error: UserError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=INVALID)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code,
                            headers=error.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"error": f"internal error ({type(error).__name__}); "
                             "see the server's log"}, status_code=500)

    @app.get("/health", response_model=HealthResponse, summary="Liveness and queue counters")
    async def health() -> dict[str, Any]:
        return service.health()

    @app.get("/models", response_model=ModelsResponse, responses=_ERRORS,
             summary="The served models, default decoding options and limits")
    async def models() -> dict[str, Any]:
        return service.describe()

    @app.post("/translate", response_model=TranslateResponse, responses=_ERRORS,
              openapi_extra=_body(TranslateRequest), summary="Translate sentences")
    async def translate(request: Request) -> Any:
        body = await read_request(request, TranslateRequest, limit)
        service.requests_in_flight += 1
        try:
            return await _unless_disconnected(request, service.translate(body))
        finally:
            service.requests_in_flight -= 1

    @app.post("/inspect", responses={200: {"description": _INSPECT_ANSWER}, **_ERRORS},
              openapi_extra=_body(InspectRequest),
              summary="Attention maps (M, A, softmax) and statistics of one sentence")
    async def inspect(request: Request) -> Any:
        body = await read_request(request, InspectRequest, limit)
        service.requests_in_flight += 1
        try:
            return await service.inspect(body)
        finally:
            service.requests_in_flight -= 1

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if api_key:
        open_paths = {"/health", "/", *(f"/static/{p.name}" for p in STATIC.iterdir())}
        app.add_middleware(BearerKey, key=api_key, open_paths=frozenset(open_paths))
    return app


async def _unless_disconnected(request: Request, work: Any) -> Any:
    """``work``'s result, or, if the client disconnects first, cancel it and answer 499."""
    job = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({job, gone}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        job.cancel()
        raise
    finally:
        gone.cancel()
    if not job.done():
        job.cancel()
        log.info("%s %s: the client disconnected; its request was withdrawn",
                 request.method, request.url.path)
        return Response(status_code=CLIENT_GONE)
    return job.result()


async def _disconnected(request: Request) -> None:
    """Return once the client has gone (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
