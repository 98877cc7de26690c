"""The API key, checked before a byte of the body is read, in constant time."""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/", "/v1/health"})
"""Reachable without the key: the viewer page (it asks for the key) and liveness."""


class RequireKey:
    """ASGI middleware: with ``key`` set, every path but ``OPEN_PATHS`` (the OpenAPI
    docs included) needs an ``X-API-Key`` header equal to it, or gets 401 at once."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app = app
        self.key = key.encode() if key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.key is None or scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-api-key", b"")
        if hmac.compare_digest(given, self.key):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"error": {"code": "unauthorized", "message": "missing or wrong X-API-Key header"}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
