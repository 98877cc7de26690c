"""Serving the app with uvicorn, with the read deadline and log hygiene uvicorn lacks.

uvicorn times out idle keep-alive connections but not a client that is slow to send
a request: one that declares 5,000 bytes and sends 100 holds a connection (and its
worker slot) for ever. ``BoundedH11Protocol`` gives every request a deadline for its
headers and body; the access log drops query strings, where a client may have put a
key or a token.
"""

from __future__ import annotations

import asyncio
import logging

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

READ_TIMEOUT_S = 30.0
"""A request's headers and body must arrive within this long of its first byte (of the
connection, for the first request): 25 MB at under 1 MB/s."""


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request arrives too slowly."""

    read_timeout = READ_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info(
                "closing a connection whose request took over %.0f s", self.read_timeout
            )
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._arm()  # a new request on a kept-alive connection starts its clock
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the whole request is in

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class DropQueryStrings(logging.Filter):
    """Access-log lines show the path only: a query string may hold a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[2] = str(args[2]).split("?", 1)[0]
            record.args = tuple(args)
        return True


def serve(app: FastAPI, host: str, port: int, read_timeout: float = READ_TIMEOUT_S) -> None:
    """Run ``app`` until interrupted, with bounded request reads and a clean access log."""
    protocol = type("Bounded", (BoundedH11Protocol,), {"read_timeout": read_timeout})
    config = uvicorn.Config(
        app, host=host, port=port, http=protocol, timeout_keep_alive=5, log_level="info"
    )
    # After uvicorn's own logging set-up, which the Config has just applied.
    logging.getLogger("uvicorn.access").addFilter(DropQueryStrings())
    uvicorn.Server(config).run()
