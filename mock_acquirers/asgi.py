"""Raw ASGI plumbing for the mock acquirer service: types, reading a body, sending JSON.

No framework on the payment hot path: a framework's routing and validation cost several
times what the mock's own work does, and the mock must stay cheap next to the router it
is measuring (``benchmarks/bench_router.py`` measures the mock's cost per request
against a trivial raw ASGI handler). A malformed request is a :class:`RequestError`,
answered 400 with the offending field named.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024
JSON_HEADERS = [(b"content-type", b"application/json")]


class BodyTooLargeError(Exception):
    """The request body passed :data:`MAX_BODY_BYTES`."""


class RequestError(Exception):
    """A malformed request; answered 400 with ``{"error": message, "field": field}``."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> bytes:
        return orjson.dumps({"error": self.message, "field": self.field})


async def read_body(receive: Receive) -> bytes:
    """The whole request body (one message in the common case, no copying then)."""
    message = await receive()
    body: bytes = message.get("body", b"")
    size = len(body)
    if size > MAX_BODY_BYTES:
        raise BodyTooLargeError
    if not message.get("more_body", False):
        return body
    parts = [body]
    while message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLargeError
        parts.append(chunk)
    return b"".join(parts)


def load_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a :class:`RequestError`."""
    if not body:
        raise RequestError("empty request body, expected a JSON object", "body")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"body is not valid JSON: {exc}", "body") from None
    if not isinstance(data, dict):
        raise RequestError("body must be a JSON object", "body")
    return data


def header(scope: Scope, name: bytes) -> str | None:
    """A request header's value (``name`` in lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def query_value(scope: Scope, name: str) -> str | None:
    """The first value of query parameter ``name``, or None when absent or empty."""
    values = parse_qs(scope["query_string"].decode("latin-1")).get(name)
    return values[0] if values and values[0] else None


async def send_bytes(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a complete JSON response whose body is already encoded."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*JSON_HEADERS, *headers] if headers else JSON_HEADERS,
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send_bytes(send, status, orjson.dumps(data), headers)


async def send_error(
    send: Send,
    status: int,
    message: str,
    field: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An error answer with a readable JSON body ``{"error": ..., "field": ...}``."""
    await send_json(send, status, {"error": message, "field": field}, headers)


async def lifespan(
    receive: Receive, send: Send, on_startup: Callable[[], None], on_shutdown: Callable[[], None]
) -> None:
    """Answer the ASGI lifespan protocol, calling the hooks at startup and shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            on_startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
