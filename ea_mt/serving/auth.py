"""API-key protection: every path but the open ones needs ``Authorization: Bearer KEY``.

A pure ASGI middleware, so a refused request is answered before its body is read.  The key
is compared with :func:`hmac.compare_digest`, in time that does not depend on where the
first wrong character is.
"""

from __future__ import annotations

import hmac
from collections.abc import Container

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ea_mt.serving.problems import UNAUTHORIZED


class BearerKey:
    """Refuse requests without the right bearer token, except to ``open_paths``."""

    def __init__(self, app: ASGIApp, key: str, open_paths: Container[str]) -> None:
        self.app = app
        self.key = key.encode("utf-8")
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "this server needs an API key: send 'Authorization: Bearer KEY'"},
            status_code=UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(),
                                                                           self.key)
        return False
