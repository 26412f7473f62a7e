"""A deadline on a request's head, so a connection that never finishes one is closed.

uvicorn arms no timer on a new connection, and its keep-alive timer is disarmed by any
byte that arrives: a client that connects and sends nothing, or half a request line,
holds a connection (and a slot under ``--max-connections``) for ever. Enough of them
and every real client is answered 503. :func:`protocol_with_head_deadline` makes
uvicorn's httptools protocol close a connection whose request head is not complete
within ``head_timeout_s`` of the connection opening, or within the keep-alive time plus
``head_timeout_s`` of the previous answer. The body has its own deadline once the head
is in (``router.body_timeout``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on every request head."""

    head_timeout_s: float = 10.0
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout_s)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # the next request on this connection
            self._arm(self.timeout_keep_alive + self.head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, delay_s: float) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(delay_s, self._head_expired)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_expired(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_with_head_deadline(head_timeout_s: float) -> type[Any]:
    """The protocol class for uvicorn's ``Config.http``, with this deadline."""
    return type("RouterHttpProtocol", (HeadDeadlineProtocol,), {"head_timeout_s": head_timeout_s})
