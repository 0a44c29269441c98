"""Client errors of the HTTP API: a status code and one line naming the problem."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BAD_REQUEST = 400  # the body cannot be read: not UTF-8, not JSON, empty
UNAUTHORIZED = 401
NOT_FOUND = 404
TOO_LARGE = 413  # over a limit: body bytes, sentences, characters, pieces
INVALID = 422  # readable JSON that asks for something wrong


class ApiError(Exception):
    """A request the server refuses; the answer is ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def describe_validation_errors(errors: Sequence[dict[str, Any]]) -> str:
    """pydantic's validation errors as one line: ``texts[2]: Input should be a valid string``."""
    parts = []
    for error in errors:
        where = ""
        for part in error.get("loc", ()):
            where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "invalid request"
