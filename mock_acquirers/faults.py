"""HTTP-level faults injected on demand: error statuses, dropped connections, damaged answers.

These sit below the acquirer behaviour model: the scenario's technical errors and hung
requests are answers in the dialect (iso 96, psp Error), whereas a fault breaks the HTTP
exchange itself, the way a load balancer, a proxy or a flaky network does.

Two families:

- *rejections* (``http_500``, ``http_503``, ``http_429``, ``reset``) happen at the
  front door: the acquirer never sees the attempt, nothing is authorised;
- *damaged answers* (``slow_body``, ``truncated``, ``malformed``, ``late_approval``)
  happen on the way back: the attempt is processed (``late_approval`` forces an
  approval) and recorded, only the router does not get a usable answer in time. That
  is the unknown-outcome case a router must reconcile by status inquiry or reversal.

Faults hit authorisation requests only, so reversals and status inquiries stay usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast, get_args

from mock_acquirers.asgi import Send, send_json

FaultKind = Literal[
    "http_500",
    "http_503",
    "http_429",
    "reset",
    "slow_body",
    "truncated",
    "malformed",
    "late_approval",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
REJECTIONS = frozenset({"http_500", "http_503", "http_429", "reset"})
FOREVER_S = 1e18
SLOW_BODY_CHUNKS = 8


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: ``kind`` hits a share ``rate`` of requests until ``end_s``.

    Times are on the scenario timeline, like incidents. ``delay_ms`` is how long a
    ``slow_body`` trickles or a ``late_approval`` waits before answering.
    """

    kind: FaultKind
    rate: float
    start_s: float
    end_s: float
    delay_ms: float

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rate": self.rate,
            "start_s": self.start_s,
            "end_s": None if self.end_s >= FOREVER_S else self.end_s,
            "delay_ms": self.delay_ms,
        }


class FaultPlan:
    """The faults injected into one acquirer; one uniform per request picks at most one."""

    __slots__ = ("_faults",)

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}

    def inject(self, fault: Fault) -> None:
        """Add a fault; one of the same kind is replaced."""
        self._faults[fault.kind] = fault

    def clear(self) -> int:
        count = len(self._faults)
        self._faults.clear()
        return count

    def __bool__(self) -> bool:
        return bool(self._faults)

    def active(self, t: float) -> list[Fault]:
        return [f for f in self._faults.values() if f.start_s <= t < f.end_s]

    def pick(self, t: float, u: float) -> Fault | None:
        """The fault hitting a request at scenario time ``t``, given a uniform ``u``.

        Active faults take consecutive slices of [0, 1), so rates add up (capped at 1).
        """
        edge = 0.0
        for fault in self._faults.values():
            if fault.start_s <= t < fault.end_s:
                edge += fault.rate
                if u < edge:
                    return fault
        return None


# --- delivering a fault over ASGI ----------------------------------------------------------


class _Transport(Protocol):
    """What a dropped connection needs of an asyncio (or uvloop) transport."""

    def close(self) -> None: ...
    def abort(self) -> None: ...
    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


def _transport_of(send: Send) -> _Transport | None:
    """The connection's transport when served by uvicorn, else None.

    ASGI has no message for "drop the connection without answering": uvicorn answers
    500 when an app fails before responding. Its ``send`` is a bound method of the
    request cycle that owns the transport, which is the only way to really drop it.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not callable(getattr(transport, "abort", None)):
        return None
    return cast(_Transport, transport)


class ConnectionDroppedError(ConnectionResetError):
    """Raised in-process (no socket to drop) where a real server would close the connection."""


async def drop_connection(send: Send, reset: bool) -> None:
    """Close the client's connection: with a TCP reset if ``reset``, else a plain close."""
    transport = _transport_of(send)
    if transport is None:
        raise ConnectionDroppedError("mock acquirer fault: connection dropped without an answer")
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # linger 0 turns close() into an RST instead of an orderly FIN
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    # let the protocol see connection_lost, so uvicorn does not try to answer 500
    for _ in range(3):
        await asyncio.sleep(0)


async def reject(send: Send, kind: str) -> None:
    """Answer a rejected request (error status or dropped connection)."""
    if kind == "reset":
        await drop_connection(send, reset=True)
        return
    status = int(kind.removeprefix("http_"))
    headers = [(b"retry-after", b"1")] if status == 429 else []
    await send_json(send, status, {"error": _REJECTION_TEXT[status], "fault": kind}, headers)


_REJECTION_TEXT = {
    500: "internal server error",
    503: "service unavailable",
    429: "too many requests",
}


async def deliver_damaged(send: Send, fault: Fault, body: bytes) -> None:
    """Send a processed answer ``body`` the way ``fault`` damages it."""
    kind = fault.kind
    if kind == "malformed":
        # a cut-off JSON document: what a half-written buffer or a buggy proxy yields
        await _start(send, 200, len(body) // 2 + 3)
        await send({"type": "http.response.body", "body": body[: len(body) // 2] + b'",}'})
    elif kind == "truncated":
        await _start(send, 200, len(body) + 64)
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        await drop_connection(send, reset=False)
    elif kind == "slow_body":
        await _start(send, 200, len(body))
        step = max(1, -(-len(body) // SLOW_BODY_CHUNKS))
        pause_s = fault.delay_ms / 1000.0 / SLOW_BODY_CHUNKS
        for i in range(0, len(body), step):
            await asyncio.sleep(pause_s)
            await send(
                {
                    "type": "http.response.body",
                    "body": body[i : i + step],
                    "more_body": i + step < len(body),
                }
            )
    else:
        raise ValueError(f"{kind} does not damage an answer")


async def _start(send: Send, status: int, length: int) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(length).encode()),
            ],
        }
    )
