"""Reading a request body: at most so many bytes, UTF-8, JSON, then a pydantic model.

The size limit is applied to the Content-Length header and to the bytes as they arrive,
before anything is parsed; every way a body can be unreadable is an :class:`ApiError`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ea_mt.serving.problems import (
    BAD_REQUEST,
    INVALID,
    TOO_LARGE,
    ApiError,
    describe_validation_errors,
)

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(BAD_REQUEST, f"Content-Length {declared!r} is not a number")
        if int(declared) > max_bytes:
            raise ApiError(TOO_LARGE, f"the request body has {declared} bytes; "
                           f"this server reads at most {max_bytes}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(TOO_LARGE, f"the request body exceeds {max_bytes} bytes, "
                           "the most this server reads")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """The JSON value of a UTF-8 body."""
    if not body.strip():
        raise ApiError(BAD_REQUEST, "the request body is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(BAD_REQUEST, f"the request body is not UTF-8: byte "
                       f"0x{body[error.start]:02x} at offset {error.start}") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise ApiError(BAD_REQUEST, f"the request body is not valid JSON: {error.msg} "
                       f"(line {error.lineno}, column {error.colno})") from None
    except RecursionError:
        raise ApiError(BAD_REQUEST, "the request body is JSON nested too deeply") from None


def _no_constant(name: str) -> None:
    raise ApiError(BAD_REQUEST, f"the request body is not valid JSON: {name} is not a number")


def validate(model: type[M], value: Any) -> M:
    """``value`` as ``model``, or a 422 naming each wrong field."""
    if not isinstance(value, dict):
        raise ApiError(INVALID, f"the request body must be a JSON object, not {_kind(value)}")
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise ApiError(INVALID, describe_validation_errors(error.errors())) from None


async def read_request(request: Request, model: type[M], max_bytes: int) -> M:
    """Read, decode, parse and validate a request body."""
    return validate(model, parse_json(await read_body(request, max_bytes)))


def _kind(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
