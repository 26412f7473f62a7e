"""The mock acquirer service: one raw ASGI app serving every scenario acquirer.

Each acquirer lives under ``/{acquirer}`` and speaks its scenario dialect under
``/{acquirer}/{dialect path}/...`` (``iso`` or ``psp``: the wire formats are in
``mock_acquirers/dialects/``); ``/admin/...`` injects incidents and faults and reads the
ledgers (``mock_acquirers/admin.py``); ``/healthz`` says the process is up.

Scenario time runs from the start of the app (and restarts on ``POST /admin/reset``),
compressed by ``time_scale`` so an incident an hour into a scenario can be reached in
minutes; latencies are not compressed, they are what the router feels. An authorisation
takes the behaviour model's latency; a void and a status inquiry take the acquirer's
``void_latency`` and ``status_latency``. Both are decided when the request arrives (a
void's effect on the ledger, the state a status inquiry reports) and only the answer
waits, the way a cancel overtaking an authorisation still in flight is accepted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

from mock_acquirers.acquirer import MockAcquirer
from mock_acquirers.admin import AdminApi
from mock_acquirers.asgi import (
    BodyTooLargeError,
    Receive,
    RequestError,
    Scope,
    Send,
    lifespan,
    read_body,
    send_bytes,
    send_error,
)
from mock_acquirers.behaviour import IssuerModel
from mock_acquirers.dialects.base import AuthorisationRequest, HttpRequest, Operation
from mock_acquirers.dialects.registry import DIALECTS
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
    """The ASGI app: routing, the payment endpoints of every dialect, admin delegation."""

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
            dialect = DIALECTS[acquirer.dialect](acquirer.name)
            self.acquirers[acquirer.name] = MockAcquirer(
                acquirer, i, issuer, streams.acquirers[i], dialect
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
        dialect = acquirer.dialect
        if parts[2] != dialect.path:
            await send_error(
                send,
                404,
                f"{acquirer.name} speaks {dialect.name}: "
                f"its endpoints are under /{acquirer.name}/{dialect.path}/",
                "path",
            )
            return
        rest = parts[3:]
        methods = dialect.endpoint(rest)
        if methods is None:
            return await _no_endpoint(send, scope)
        operation = methods.get(scope["method"])
        if operation is None:
            return await _not_allowed(send, ", ".join(methods))
        try:
            request = HttpRequest(rest, await read_body(receive), scope)
            if operation is Operation.AUTHORISE:
                await self._authorise(acquirer, dialect.parse_authorisation(request), send)
            elif operation is Operation.VOID:
                await self._void(acquirer, request, send)
            else:
                await self._status(acquirer, request, send)
        except RequestError as exc:
            acquirer.counters.bad_requests += 1
            await send_bytes(send, 400, exc.body())
        except BodyTooLargeError:
            acquirer.counters.bad_requests += 1
            await send_error(send, 413, "request body too large", "body")

    async def _void(self, acquirer: MockAcquirer, request: HttpRequest, send: Send) -> None:
        """Void now (so a cascade after it is safe), answer after the void latency."""
        dialect = acquirer.dialect
        void = dialect.parse_void(request)
        if void.by_acquirer_reference:
            attempt = acquirer.find_by_reference(void.attempt_id)
        else:
            attempt = acquirer.find(void.attempt_id)
        body = dialect.void_answer(void, attempt, acquirer.reverse(attempt))
        await _pause(acquirer.void_ms())
        await send_bytes(send, 200, body)

    async def _status(self, acquirer: MockAcquirer, request: HttpRequest, send: Send) -> None:
        """The attempt's state on arrival, answered after the status-inquiry latency."""
        dialect = acquirer.dialect
        key = dialect.parse_status(request)
        acquirer.counters.status_inquiries += 1
        body = dialect.status_answer(key, acquirer.find(key))
        await _pause(acquirer.status_ms())
        await send_bytes(send, 200, body)

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


async def _pause(ms: float) -> None:
    if ms > 0.0:
        await asyncio.sleep(ms / 1000.0)


async def _not_allowed(send: Send, allow: str) -> None:
    await send_error(
        send, 405, f"method not allowed; use {allow}", "method", [(b"allow", allow.encode())]
    )


async def _no_endpoint(send: Send, scope: Scope) -> None:
    await send_error(send, 404, f"no such endpoint: {scope['method']} {scope['path']}", "path")
