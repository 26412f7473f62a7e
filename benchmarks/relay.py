"""Reference servers for bench_router.py: a minimal payment relay and a trivial raw ASGI handler.

``relay`` is the ceiling the routing service is measured against: no framework, orjson,
one pooled aiohttp session for its life. It takes the router's own ``POST /v1/payments``
body, forwards it to ONE fixed acquirer as an iso8583 ``0100`` authorisation (the
Idempotency-Key becomes the ``rrn``), and answers with the acquirer's response code. It
does what any router must do per payment (parse, translate, one upstream call, answer)
and nothing a real router adds: no validation, no routing decision, no idempotency
store, no records, no metrics, no cascade.

``trivial`` is the floor a mock acquirer is priced against: read the body, answer a
constant iso8583 ``0110`` in orjson, nothing else.

Both run under uvicorn with the settings the services use (uvloop, httptools, no access
log), bind 127.0.0.1 by default and answer ``GET /healthz``::

    .venv/bin/python benchmarks/relay.py relay --port 8300 \\
        --acquirer-url http://127.0.0.1:8100/acq_a
    .venv/bin/python benchmarks/relay.py trivial --port 8301
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import aiohttp
import orjson
import uvicorn

from runtime.serving import server_config

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
UPSTREAM_HEADERS = {"content-type": "application/json"}
# the router's default attempt timeout, so both give up on a silent acquirer alike
ATTEMPT_TIMEOUT_S = 4.0
TRIVIAL_ANSWER = {
    "mti": "0110",
    "rrn": "000000000001",
    "response_code": "00",
    "auth_code": "A1B2C3",
    "stan": "000001",
    "acquirer": "raw",
}


async def read_body(receive: Receive) -> bytes:
    """The whole request body (usually a single ASGI message)."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    parts = [body]
    while message.get("more_body", False):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


async def answer(send: Send, status: int, body: bytes) -> None:
    """A complete JSON response whose body is already encoded."""
    await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
    await send({"type": "http.response.body", "body": body})


async def lifespan(
    receive: Receive,
    send: Send,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """The ASGI lifespan protocol with optional async hooks."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if on_startup is not None:
                await on_startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if on_shutdown is not None:
                await on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


class PaymentRelay:
    """Forwards each payment to one acquirer (iso8583) and returns its answer."""

    def __init__(self, acquirer_url: str, connections: int = 1024) -> None:
        # e.g. http://127.0.0.1:8100/acq_a: the acquirer's prefix on the mock service
        self.authorise_url = acquirer_url.rstrip("/") + "/iso/authorise"
        self.acquirer = acquirer_url.rstrip("/").rsplit("/", 1)[-1]
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT_S),
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await lifespan(receive, send, self.start, self.close)
        elif kind == "http":
            path = scope["path"]
            if path == "/v1/payments" and scope["method"] == "POST":
                await self.relay(scope, receive, send)
            elif path == "/healthz":
                await answer(send, 200, b'{"status":"ok"}')
            else:
                await answer(send, 404, b'{"error":"not_found"}')

    async def relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One payment: translate, authorise at the acquirer, answer the payer."""
        key = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"idempotency-key"), None
        )
        try:
            payment = orjson.loads(await read_body(receive))
            card = payment["card"]
            request = orjson.dumps(
                {
                    "mti": "0100",
                    "rrn": key,
                    "amount": payment["amount"],
                    "currency": payment["currency"],
                    "pan_bin": card["bin"],
                    "pan_last4": card["last4"],
                    "network": card["network"],
                    "card_type": card["type"],
                    "issuer_country": card["issuer_country"],
                    "merchant_country": "DE",
                    "merchant_reference": key,
                }
            )
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await answer(send, 400, b'{"error":"invalid_request"}')
            return
        if not key:
            await answer(send, 400, b'{"error":"missing_idempotency_key"}')
            return
        session = self._session
        assert session is not None, "lifespan startup opens the session"
        try:
            async with session.post(
                self.authorise_url, data=request, headers=UPSTREAM_HEADERS
            ) as response:
                status, data = response.status, await response.read()
            code = orjson.loads(data)["response_code"] if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, KeyError, TypeError):
            code = None
        if not isinstance(code, str):
            await answer(send, 502, b'{"status":"failed","error":"acquirer_unavailable"}')
            return
        await answer(
            send,
            200,
            orjson.dumps(
                {
                    "status": "approved" if code == "00" else "declined",
                    "acquirer": self.acquirer,
                    "code": code,
                    "key": key,
                }
            ),
        )


async def trivial_handler(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the request body and answers a constant 0110 in orjson: the raw ASGI floor."""
    kind = scope["type"]
    if kind == "lifespan":
        await lifespan(receive, send)
    elif kind == "http":
        await read_body(receive)
        await answer(send, 200, orjson.dumps(TRIVIAL_ANSWER))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/relay.py", description=__doc__.split("\n", 1)[0] if __doc__ else None
    )
    parser.add_argument("mode", choices=["relay", "trivial"])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--acquirer-url",
        default=None,
        help="relay: the acquirer's base URL, e.g. http://127.0.0.1:8100/acq_a",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=1024,
        help="relay: connection pool size towards the acquirer",
    )
    args = parser.parse_args(argv)
    if args.mode == "relay" and not args.acquirer_url:
        parser.error("relay needs --acquirer-url")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    app: Any = (
        PaymentRelay(args.acquirer_url, args.connections)
        if args.mode == "relay"
        else trivial_handler
    )
    uvicorn.Server(server_config(app, args.host, args.port, graceful_shutdown_s=2)).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
