"""The mock acquirer service: one raw ASGI app serving every scenario acquirer.

Each acquirer lives under ``/{acquirer}`` and speaks its scenario dialect (``/iso/...``
or ``/psp/...``); ``/admin/...`` injects incidents and faults and reads the ledgers;
``/healthz`` says the process is up. The wire contract is in docs (dialects and admin
spec) and in :mod:`mock_acquirers.dialects`.

Scenario time runs from the start of the app (and restarts on ``POST /admin/reset``),
compressed by ``time_scale`` so an incident an hour into a scenario can be reached in
minutes; latencies are not compressed, they are what the router feels.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import numpy as np

from mock_acquirers.acquirer import MockAcquirer
from mock_acquirers.admin import AdminApi
from mock_acquirers.asgi import (
    BodyTooLargeError,
    Receive,
    Scope,
    Send,
    header,
    lifespan,
    read_body,
    send_bytes,
    send_error,
    send_json,
)
from mock_acquirers.behaviour import IssuerModel
from mock_acquirers.dialects import (
    AuthorisationRequest,
    RequestError,
    iso_authorise_answer,
    iso_reversal_answer,
    iso_status,
    parse_iso_authorise,
    parse_iso_reversal,
    parse_psp_cancel_by_key,
    parse_psp_payment,
    psp_cancel_answer,
    psp_payment_answer,
    psp_refusal,
    psp_status,
)
from mock_acquirers.faults import REJECTIONS, deliver_damaged, reject
from runtime.heap import FrozenHeap
from runtime.parent import ParentWatch
from scenarios.schema import Scenario
from scenarios.streams import RunStreams

Clock = Callable[[], float]
# a late approval answers this long after the slowest attempt timeout of the scenario
LATE_FACTOR = 1.5
_HEALTHY = b'{"status":"ok"}'


class MockAcquirerService:
    """The ASGI app: routing, the payment endpoints of both dialects, admin delegation."""

    def __init__(
        self,
        scenario: Scenario,
        admin_token: str,
        time_scale: float = 1.0,
        seed: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if not admin_token:
            raise ValueError("an admin token is required")
        if not time_scale > 0.0:
            raise ValueError("time_scale must be positive")
        reserved = {"admin", "healthz"} & set(scenario.acquirer_names)
        if reserved:
            raise ValueError(f"acquirer names {sorted(reserved)} clash with the service's paths")
        self.scenario = scenario
        self.time_scale = time_scale
        self.seed = scenario.seed if seed is None else seed
        self._clock = clock
        self.late_ms = LATE_FACTOR * max(p.retry.attempt_timeout_ms for p in scenario.policies)
        issuer = IssuerModel(scenario.traffic.issuer_declines)
        streams = self._streams()
        self.acquirers: dict[str, MockAcquirer] = {}
        for i, acquirer in enumerate(scenario.acquirers):
            encode = _iso_encoder(acquirer.name) if acquirer.dialect == "iso8583" else _psp_answer
            self.acquirers[acquirer.name] = MockAcquirer(
                acquirer, i, issuer, streams.acquirers[i], encode
            )
        self.admin = AdminApi(self, admin_token)
        self.run_start = clock()
        self.heap = FrozenHeap()  # attempts and ledgers grow with the run: short GC pauses
        self.parent = ParentWatch()  # started by runtime.stack: stop if the stack's owner dies

    def _streams(self) -> RunStreams:
        return RunStreams.spawn(np.random.SeedSequence(self.seed), len(self.scenario.acquirers))

    def now(self) -> float:
        """Scenario time in seconds."""
        return (self._clock() - self.run_start) * self.time_scale

    def reset(self) -> None:
        """Back to the state at start: ledgers, counters, keys, incidents, faults, clock,
        random streams (so a run after a reset replays the same outcomes)."""
        streams = self._streams()
        for i, acquirer in enumerate(self.acquirers.values()):
            acquirer.reset(streams.acquirers[i])
        self.run_start = self._clock()

    def _startup(self) -> None:
        self.run_start = self._clock()  # scenario time starts when the server can answer
        self.heap.start()
        self.parent.start()

    def _shutdown(self) -> None:
        self.parent.stop()
        self.heap.stop()
        for acquirer in self.acquirers.values():
            acquirer.cancel_pending()

    # -- routing --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await lifespan(receive, send, self._startup, self._shutdown)
            return
        parts = scope["path"].split("/")
        acquirer = self.acquirers.get(parts[1]) if len(parts) > 2 else None
        if acquirer is None:
            if parts[1] == "admin":
                await self.admin.handle(scope, receive, send, parts[2:])
            elif scope["path"] == "/healthz":
                await send_bytes(send, 200, _HEALTHY)
            else:
                await send_error(
                    send, 404, f"no such acquirer or endpoint: {scope['path']}", "path"
                )
            return
        try:
            if acquirer.dialect == "iso8583" and parts[2] == "iso":
                await self._iso(acquirer, scope, receive, send, parts[3:])
            elif acquirer.dialect == "psp" and parts[2] == "psp":
                await self._psp(acquirer, scope, receive, send, parts[3:])
            else:
                prefix = "iso" if acquirer.dialect == "iso8583" else "psp"
                await send_error(
                    send,
                    404,
                    f"{acquirer.name} speaks {acquirer.dialect}: "
                    f"its endpoints are under /{acquirer.name}/{prefix}/",
                    "path",
                )
        except RequestError as exc:
            acquirer.counters.bad_requests += 1
            await send_bytes(send, 400, exc.body())
        except BodyTooLargeError:
            acquirer.counters.bad_requests += 1
            await send_error(send, 413, "request body too large", "body")

    async def _iso(
        self, acquirer: MockAcquirer, scope: Scope, receive: Receive, send: Send, rest: list[str]
    ) -> None:
        method = scope["method"]
        if rest == ["authorise"]:
            if method != "POST":
                return await _not_allowed(send, "POST")
            request = parse_iso_authorise(await read_body(receive))
            return await self._authorise(acquirer, request, send)
        if rest == ["reversal"]:
            if method != "POST":
                return await _not_allowed(send, "POST")
            rrn = parse_iso_reversal(await read_body(receive))
            reversed_ = acquirer.reverse(acquirer.find(rrn))
            return await send_bytes(send, 200, iso_reversal_answer(rrn, reversed_))
        if len(rest) == 2 and rest[0] == "transactions" and rest[1]:
            if method != "GET":
                return await _not_allowed(send, "GET")
            acquirer.counters.status_inquiries += 1
            attempt = acquirer.find(rest[1])
            if attempt is None:
                return await send_json(
                    send, 200, {"rrn": rest[1], "status": "not_found", "response_code": None}
                )
            code = attempt.visible_code
            return await send_json(
                send,
                200,
                {
                    "rrn": rest[1],
                    "status": iso_status(code, attempt.reversed),
                    "response_code": code,
                },
            )
        return await _no_endpoint(send, scope)

    async def _psp(
        self, acquirer: MockAcquirer, scope: Scope, receive: Receive, send: Send, rest: list[str]
    ) -> None:
        method = scope["method"]
        if rest == ["payments"]:
            if method == "POST":
                request = parse_psp_payment(
                    await read_body(receive), header(scope, b"idempotency-key")
                )
                return await self._authorise(acquirer, request, send)
            if method == "GET":
                return await self._psp_status(acquirer, scope, send)
            return await _not_allowed(send, "GET, POST")
        if len(rest) == 3 and rest[0] == "payments" and rest[2] == "cancels" and rest[1]:
            if method != "POST":
                return await _not_allowed(send, "POST")
            cancelled = acquirer.reverse(acquirer.find_by_reference(rest[1]))
            return await send_bytes(send, 200, psp_cancel_answer(rest[1], cancelled))
        if rest == ["cancels"]:
            if method != "POST":
                return await _not_allowed(send, "POST")
            attempt = acquirer.find(parse_psp_cancel_by_key(await read_body(receive)))
            cancelled = acquirer.reverse(attempt)
            reference = attempt.acquirer_reference if attempt is not None else None
            return await send_bytes(send, 200, psp_cancel_answer(reference, cancelled))
        return await _no_endpoint(send, scope)

    async def _psp_status(self, acquirer: MockAcquirer, scope: Scope, send: Send) -> None:
        keys = parse_qs(scope["query_string"].decode("latin-1")).get("idempotencyKey")
        if not keys or not keys[0]:
            raise RequestError("the idempotencyKey query parameter is required", "idempotencyKey")
        acquirer.counters.status_inquiries += 1
        attempt = acquirer.find(keys[0])
        if attempt is None:
            return await send_json(send, 200, {"status": "NotFound", "pspReference": None})
        code = attempt.visible_code
        answer: dict[str, object] = {
            "status": psp_status(code, attempt.reversed),
            "pspReference": attempt.acquirer_reference,
            "merchantReference": attempt.reference,
        }
        if code is not None and code != "00":
            answer["refusalReasonCode"] = psp_refusal(code)[1]
        return await send_json(send, 200, answer)

    # -- the hot path -------------------------------------------------------------------

    async def _authorise(
        self, acquirer: MockAcquirer, request: AuthorisationRequest, send: Send
    ) -> None:
        """Decide, queue, answer: the one path both dialects' authorisations take."""
        t = self.now()
        fault = None
        if acquirer.faults:
            fault = acquirer.faults.pick(t, acquirer.fault_stream.next())
            if fault is not None:
                acquirer.counters.faults[fault.kind] += 1
                if fault.kind in REJECTIONS:
                    acquirer.counters.requests += 1
                    return await reject(send, fault.kind)
        started = time.monotonic()
        attempt, replay = acquirer.authorise(
            request, t, fault is not None and fault.kind == "late_approval"
        )
        body = await (attempt.answer() if replay else acquirer.serve(attempt))
        if fault is None:
            return await send_bytes(send, 200, body)
        if fault.kind == "late_approval":
            remaining_s = fault.delay_ms / 1000.0 - (time.monotonic() - started)
            if remaining_s > 0.0:
                await asyncio.sleep(remaining_s)
            return await send_bytes(send, 200, body)
        return await deliver_damaged(send, fault, body)


def create_app(
    scenario: Scenario,
    admin_token: str,
    time_scale: float = 1.0,
    seed: int | None = None,
    clock: Clock = time.monotonic,
) -> MockAcquirerService:
    """The mock acquirer ASGI app for ``scenario`` (``seed`` defaults to the scenario's)."""
    return MockAcquirerService(scenario, admin_token, time_scale, seed, clock)


def _iso_encoder(name: str) -> Callable[[AuthorisationRequest, str, str, str, str], bytes]:
    def encode(
        request: AuthorisationRequest, code: str, reference: str, stan: str, auth_code: str
    ) -> bytes:
        return iso_authorise_answer(request.key, code, stan, auth_code, name)

    return encode


def _psp_answer(
    request: AuthorisationRequest, code: str, reference: str, stan: str, auth_code: str
) -> bytes:
    return psp_payment_answer(reference, code, request.reference, auth_code)


async def _not_allowed(send: Send, allow: str) -> None:
    await send_error(
        send, 405, f"method not allowed; use {allow}", "method", [(b"allow", allow.encode())]
    )


async def _no_endpoint(send: Send, scope: Scope) -> None:
    await send_error(send, 404, f"no such endpoint: {scope['method']} {scope['path']}", "path")
