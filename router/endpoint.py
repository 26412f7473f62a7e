"""``POST /v1/payments`` as a raw ASGI endpoint: the router's hot path.

FastAPI's per-request machinery (dependency solving, Request and Response objects)
costs several times what routing a payment does (docs/performance.md), so the
payment endpoint is mounted as a plain ASGI route inside the FastAPI app: one pass
over the headers, the body read once and validated by ``model_validate_json``, and
pre-serialised orjson bytes sent straight back. Everything else stays in FastAPI.

Order of the checks, cheapest refusal first: the Idempotency-Key header, admission
(a new key above the cap on payments in flight is shed before its body is read), the
body (size, read deadline, validation), then the key's claim. A key whose payment is
being finished after a restart (``router.recovery``) gets 409 with Retry-After until
its final answer is known.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from router.admission import Admission
from router.idempotency import IdempotencyStore, PaymentInProgressError, StoredAnswer
from router.metrics import RouterMetrics
from router.payment_request import (
    PaymentRequest,
    RequestError,
    check_idempotency_key,
    parse_payment,
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Begin = Callable[[PaymentRequest, str, "asyncio.Future[StoredAnswer]"], None]

MAX_BODY_BYTES = 16 * 1024  # a payment request is a few hundred bytes
_JSON = (b"content-type", b"application/json")
_REPLAYED = (b"idempotent-replayed", b"true")


class BodyTooLargeError(RequestError):
    """The request body exceeds :data:`MAX_BODY_BYTES`."""

    def __init__(self) -> None:
        super().__init__(413, "body_too_large", [("body", f"larger than {MAX_BODY_BYTES} bytes")])


async def read_body(receive: Receive) -> bytes:
    """The whole request body (ASGI may deliver it in several messages)."""
    message = await receive()
    body = message.get("body", b"")
    while message.get("more_body", False):
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLargeError
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLargeError
    return bytes(body)


async def send_json(
    send: Send,
    status: int,
    body: bytes,
    replayed: bool = False,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode()), *extra]
    if replayed:
        headers.append(_REPLAYED)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_problem(send: Send, problem: RequestError) -> None:
    """A refusal in the service's one error shape, with its headers (Retry-After...)."""
    await send_json(send, problem.status, orjson.dumps(problem.body()), extra=problem.headers)


class PaymentEndpoint:
    """Validates, sheds above the cap, deduplicates by key, hands new payments to ``begin``."""

    def __init__(
        self,
        idempotency: IdempotencyStore,
        metrics: RouterMetrics,
        begin: Begin,
        admission: Admission,
    ) -> None:
        self.idempotency = idempotency
        self.metrics = metrics
        self.begin = begin
        self.admission = admission
        self.in_progress_retry_after_s = 1  # Retry-After of a key still recovering

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key: str | None = None
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                key = value.decode("latin-1")
                break
        idempotency = self.idempotency
        admission = self.admission
        try:
            key = check_idempotency_key(key)
            if admission.full and not idempotency.replays(key):
                raise admission.refuse()
            payment = parse_payment(await read_body(receive))
            # no await from here to the claim: the cap cannot be overtaken in between
            if admission.full and not idempotency.replays(key):
                raise admission.refuse()
            claim = idempotency.claim(key, payment.fingerprint())
            if claim.recovering and not claim.answer.done():
                raise PaymentInProgressError(self.in_progress_retry_after_s)
        except RequestError as problem:
            self.metrics.rejected.labels(problem.error).inc()
            await send_problem(send, problem)
            return
        if claim.first:
            self.begin(payment, key, claim.answer)
        # shielded: a client that hangs up must not cancel the answer other duplicates await
        stored = await asyncio.shield(claim.answer)
        if not claim.first:
            self.metrics.replays.inc()
        await send_json(
            send, stored.status, stored.body, replayed=not claim.first, extra=stored.headers
        )
