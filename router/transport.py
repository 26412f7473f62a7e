"""The transport seam between the router's connectors and the acquirers' HTTP APIs.

Connectors never touch a socket: they call an :class:`AcquirerTransport`. Production
uses :class:`AiohttpTransport` (one pooled ``aiohttp.ClientSession`` for the life of the
service, see docs/performance.md); tests use :class:`AsgiTransport`, which calls an
ASGI app in-process. Both report trouble the same way, as a :class:`TransportError`
whose ``raw_code`` names what went wrong and whose ``maybe_processed`` says whether the
acquirer may have acted on the request (which decides whether the router must void
before trying elsewhere).

The attempt clock starts when a request can go out, not before: waiting for one of the
pool's connections is the router's own queue, and a timeout around it once turned 2,588
attempts that never left into "acquirer timeouts" that fed the success-rate scores
(docs/performance.md, "Overload lessons"). :class:`AiohttpTransport` therefore holds its
own connection slots (:class:`ConnectionSlots`): the attempt timeout runs only once a
slot is held (connecting, sending and waiting for the answer are the acquirer's time),
and a slot not free within ``pool_wait_s`` fails the call with :data:`POOL_EXHAUSTED`:
not a timeout, not the acquirer's fault, and certain (nothing was sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from scenarios.taxonomy import TIMEOUT_CODE

Headers = Mapping[str, str]
JSON_HEADERS: dict[str, str] = {"content-type": "application/json"}
POOL_EXHAUSTED = "POOL_EXHAUSTED"  # the router's own overload: no connection came free in time


@dataclass(frozen=True, slots=True)
class TransportResponse:
    """An acquirer's HTTP answer: status, headers (look up lower-case) and the complete body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """No usable HTTP answer: a timeout, a dropped connection or a broken body.

    ``acquirer_side`` is False when the trouble is the router's own (its connection pool
    was exhausted, so the request never left): such a failure says nothing about the
    acquirer and must not count against it.
    """

    def __init__(
        self, raw_code: str, maybe_processed: bool, detail: str = "", acquirer_side: bool = True
    ) -> None:
        super().__init__(f"{raw_code}: {detail}" if detail else raw_code)
        self.raw_code = raw_code
        self.maybe_processed = maybe_processed
        self.acquirer_side = acquirer_side


def timed_out(detail: str = "") -> TransportError:
    """The answer did not arrive in time: the acquirer may still approve (unknown outcome)."""
    return TransportError(TIMEOUT_CODE, True, detail or "no answer before the attempt timeout")


class AcquirerTransport(Protocol):
    """How connectors reach acquirers: ``path`` is relative to the acquirers' base URL."""

    async def post(
        self, path: str, body: bytes, headers: Headers, timeout_s: float
    ) -> TransportResponse: ...

    async def get(self, path: str, timeout_s: float) -> TransportResponse: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def pool_size(rate_per_s: float, latency_ms: float, headroom: float = 2.0, floor: int = 16) -> int:
    """Connections to keep for a load by Little's law (concurrency ≈ rate × latency)."""
    return max(floor, round(rate_per_s * latency_ms / 1000.0 * headroom))


class ConnectionSlots:
    """The pool's size as slots: how many requests may be on their way to acquirers at once.

    Taking a free slot does not suspend; a caller finding none waits at most ``wait_s``
    and then gets :data:`POOL_EXHAUSTED`. The counters feed ``GET /metrics``.
    """

    def __init__(self, size: int, wait_s: float) -> None:
        if size < 1:
            raise ValueError("a connection pool needs at least one connection")
        if not wait_s > 0.0:
            raise ValueError("the pool wait bound must be positive")
        self.size = size
        self.wait_s = wait_s
        self.in_use = 0
        self.waits = 0  # calls that found every slot taken and had to wait
        self.exhausted = 0  # calls that waited in vain
        self._free = asyncio.Semaphore(size)

    async def acquire(self) -> None:
        free = self._free
        if free.locked():
            self.waits += 1
            try:
                async with asyncio.timeout(self.wait_s):
                    await free.acquire()
            except TimeoutError:
                self.exhausted += 1
                raise TransportError(
                    POOL_EXHAUSTED,
                    False,
                    f"no free connection to the acquirers within {self.wait_s:g} s",
                    acquirer_side=False,
                ) from None
        else:
            await free.acquire()  # returns at once
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1
        self._free.release()


class AiohttpTransport:
    """Production transport: one pooled aiohttp session, opened at start, closed at stop."""

    def __init__(self, base_url: str, connections: int = 256, pool_wait_s: float = 1.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.connections = connections
        self.pool = ConnectionSlots(connections, pool_wait_s)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=0,  # the slots above are the limit: aiohttp itself never makes a call wait
                limit_per_host=0,
                ttl_dns_cache=None,
                enable_cleanup_closed=False,
            )
            # one session for the service's life: per-request sessions would re-handshake
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
                # each request has its own deadline (asyncio.timeout below): a second,
                # session-wide timer per request would only cost time
                timeout=aiohttp.ClientTimeout(),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self, path: str, body: bytes, headers: Headers, timeout_s: float
    ) -> TransportResponse:
        return await self._request("POST", path, body, headers, timeout_s)

    async def get(self, path: str, timeout_s: float) -> TransportResponse:
        return await self._request("GET", path, None, None, timeout_s)

    async def _request(
        self, method: str, path: str, body: bytes | None, headers: Headers | None, timeout_s: float
    ) -> TransportResponse:
        session = self._session
        if session is None:
            raise RuntimeError("AiohttpTransport.start() was not awaited")
        send_headers = {**JSON_HEADERS, **headers} if headers else JSON_HEADERS
        pool = self.pool
        await pool.acquire()  # the router's own queue: not on the attempt's clock
        try:
            async with asyncio.timeout(timeout_s):
                async with session.request(
                    method, self.base_url + path, data=body, headers=send_headers
                ) as response:
                    data = await response.read()
                    # aiohttp's headers are already a case-insensitive mapping
                    return TransportResponse(response.status, response.headers, data)
        except TimeoutError:
            raise timed_out() from None
        except aiohttp.ClientConnectorError as exc:
            # the connection never opened: the request cannot have reached the acquirer
            raise TransportError("CONN_REFUSED", False, str(exc)) from None
        except aiohttp.ClientPayloadError as exc:
            raise TransportError("BAD_BODY", True, f"truncated body: {exc}") from None
        except aiohttp.ServerDisconnectedError as exc:
            raise TransportError("CONN_RESET", True, str(exc) or "server disconnected") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError("CONN_RESET", True, f"{type(exc).__name__}: {exc}") from None
        finally:
            pool.release()


# --- in-process transport ----------------------------------------------------------------


class AsgiTransport:
    """Test transport: calls an ASGI app in-process, no sockets, same failure semantics.

    A body shorter than its Content-Length is a truncated body; an app that raises or
    returns without answering is a dropped connection.
    """

    def __init__(self, app: Any, root_path: str = "") -> None:
        self.app = app
        self.root_path = root_path.rstrip("/")
        # requests the router gave up on keep running, as they would on a real server
        self._abandoned: set[asyncio.Task[TransportResponse]] = set()

    async def post(
        self, path: str, body: bytes, headers: Headers, timeout_s: float
    ) -> TransportResponse:
        return await self._request("POST", path, body, {**JSON_HEADERS, **headers}, timeout_s)

    async def get(self, path: str, timeout_s: float) -> TransportResponse:
        return await self._request("GET", path, b"", {}, timeout_s)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for task in list(self._abandoned):
            task.cancel()
        if self._abandoned:
            await asyncio.gather(*self._abandoned, return_exceptions=True)

    async def _request(
        self, method: str, path: str, body: bytes, headers: Headers, timeout_s: float
    ) -> TransportResponse:
        task = asyncio.create_task(self._call(method, path, body, headers))
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            self._abandoned.add(task)
            task.add_done_callback(self._forget)
            raise timed_out() from None

    def _forget(self, task: asyncio.Task[TransportResponse]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never awaited

    async def _call(
        self, method: str, target: str, body: bytes, headers: Headers
    ) -> TransportResponse:
        path, _, query = (self.root_path + target).partition("?")
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw_headers.append((b"content-length", str(len(body)).encode()))
        raw_headers.append((b"host", b"acquirers.test"))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        request_sent = False
        status: int | None = None
        response_headers: dict[str, str] = {}
        chunks: list[bytes] = []
        complete = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await complete.wait()  # a client that stays connected until the answer ends
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for key, value in message.get("headers", []):
                    response_headers[key.decode().lower()] = value.decode()
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    complete.set()

        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if status is None:
                raise TransportError("CONN_RESET", True, f"{type(exc).__name__}: {exc}") from None
            raise TransportError("BAD_BODY", True, f"body cut off: {exc}") from None
        if status is None:
            raise TransportError("CONN_RESET", True, "closed without an answer")
        data = b"".join(chunks)
        declared = response_headers.get("content-length")
        if not complete.is_set() or (declared is not None and int(declared) != len(data)):
            raise TransportError("BAD_BODY", True, "truncated body")
        return TransportResponse(status, response_headers, data)
