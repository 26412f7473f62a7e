"""The routing service: a FastAPI app that routes card payments to acquirers.

The payment endpoint is a raw ASGI route (``router.endpoint``); look-ups, metrics,
health and the admin API are ordinary async FastAPI handlers answering orjson bytes.
The routing of each payment runs in a task of its own, so a client that hangs up can
never interrupt a payment halfway through a cascade. Every request's body must arrive
within a deadline (``router.body_timeout``), payments above the cap in flight are shed
(``router.admission``), every refusal has one shape (``router.problems``), and the
OpenAPI schema, payment route included, is at ``/openapi.json`` (``router.openapi``).
With ``journal_path`` every payment is journaled (``router.payment_journal``) and a
restarted router replays the journal before it serves (``router.recovery``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from router.admin import admin_routes, json_response
from router.admission import Admission
from router.attempt_log import RouterAttemptLog
from router.body_timeout import BodyDeadline
from router.connectors import Connector
from router.endpoint import PaymentEndpoint
from router.idempotency import DAY_S, IdempotencyStore, StoredAnswer
from router.iso8583 import IsoConnector
from router.journal import JournalRefusedError, SqliteJournal
from router.metrics import RouterMetrics
from router.openapi import Health, PaymentAnswer, Problem, build_openapi
from router.payment_journal import JournalRefusalError, PaymentJournal
from router.payment_request import PaymentRequest
from router.payments import PaymentRouter
from router.problems import install_problem_handlers
from router.psp import PspConnector
from router.records import PaymentBook
from router.recovery import Recovery
from router.reversals import LateReversals
from router.transport import AcquirerTransport, AiohttpTransport, pool_size
from runtime.heap import FrozenHeap
from runtime.parent import ParentWatch
from runtime.serving import RESTARTS_ENV
from scenarios.sampler import peak_rate
from scenarios.schema import Scenario

log = logging.getLogger("router.app")
JSON = "application/json"
MAX_CONNECTIONS = 4096  # stays clear of common open-file limits
# FastAPI >= 0.165 probes OpenTelemetry providers on every request (~20 us on the hot
# path); the service exports its own Prometheus metrics, so switch it off where it exists
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)
_DIALECTS: dict[str, type[Connector]] = {
    IsoConnector.dialect: IsoConnector,
    PspConnector.dialect: PspConnector,
}


def new_payment_id() -> str:
    """``pay_`` + the milliseconds since the epoch (12 hex digits) + 64 random bits.

    Time first, so ids sort by creation: the journal's tables and indexes keyed by
    payment id then grow at their right edge, and a commit rewrites a few pages instead
    of one page per payment scattered over the whole file (measured under wrk load, the
    journal's writer thread spent 52 us of CPU per payment with random ids, 28 us with
    these). The random part keeps an id unguessable."""
    return f"pay_{time.time_ns() // 1_000_000:012x}{os.urandom(8).hex()}"


@dataclass(frozen=True)
class RouterSettings:
    """Tunables of one router process (defaults suit the bundled scenarios)."""

    acquirers_url: str = "http://127.0.0.1:9100"
    policy: str | None = None  # default: the scenario's first policy
    seed: int | None = None  # default: the scenario's seed
    connections: int | None = None  # default: Little's law on the scenario's peak load
    max_in_flight: int | None = None  # admission cap; default: the connection pool's size
    retry_after_s: int = 1  # Retry-After of a payment shed at the cap
    pool_wait_s: float | None = None  # longest wait for a pooled connection; default: attempt
    body_timeout_s: float = 10.0  # a request body must arrive within this
    idempotency_ttl_s: float = DAY_S
    max_payments: int = 1_000_000  # records and idempotency keys kept; ~1.6 KB each (measured)
    late_check_horizon_s: float = 120.0
    shutdown_grace_s: float = 5.0
    journal_path: str | None = None  # the payment journal (SQLite); None: memory only
    attempt_log_path: str | None = None  # one row per attempt (Parquet, CSV for .csv)


def connectors_for(scenario: Scenario, transport: AcquirerTransport) -> dict[str, Connector]:
    """One connector per scenario acquirer, in the acquirer's dialect."""
    return {a.name: _DIALECTS[a.dialect](a.name, transport) for a in scenario.acquirers}


def default_connections(scenario: Scenario, policy: str | None = None) -> int:
    """Pool size for the scenario's peak rate if every attempt ran to its timeout.

    Little's law with the worst latency the policy tolerates, so an acquirer incident
    (everything slow) cannot starve the pool; connections open only when needed.
    """
    timeout_ms = scenario.policy(policy).retry.attempt_timeout_ms
    return min(
        MAX_CONNECTIONS,
        pool_size(peak_rate(scenario.traffic.arrival), timeout_ms, headroom=1.0, floor=256),
    )


def default_pool_wait_s(scenario: Scenario, policy: str | None = None) -> float:
    """A connection not free within one attempt timeout means the router is overloaded."""
    return scenario.policy(policy).retry.attempt_timeout_ms / 1000.0


class RouterService:
    """Everything one router process holds: routing, idempotency, records, metrics."""

    def __init__(
        self,
        scenario: Scenario,
        transport: AcquirerTransport,
        settings: RouterSettings,
        max_in_flight: int,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.admission = Admission(max_in_flight, settings.retry_after_s)
        self.heap = FrozenHeap()
        self.parent = ParentWatch()  # started by runtime.stack: stop if the stack's owner dies
        self.metrics = RouterMetrics()
        self.idempotency = IdempotencyStore(
            ttl_s=settings.idempotency_ttl_s, max_entries=settings.max_payments
        )
        self.reversals = LateReversals(self.metrics, horizon_s=settings.late_check_horizon_s)
        self.router = PaymentRouter(
            scenario,
            scenario.policy(settings.policy),
            connectors_for(scenario, transport),
            metrics=self.metrics,
            book=PaymentBook(settings.max_payments),
            reversals=self.reversals,
            seed=settings.seed,
        )
        self.metrics.watch_engine(self.router.scores, self.router.policy_label)
        self.metrics.admission_cap.set(max_in_flight)
        if isinstance(transport, AiohttpTransport):
            self.metrics.watch_pool(transport.pool)
        self._routing: set[asyncio.Task[None]] = set()
        self.journal: SqliteJournal | None = None
        self.recovery: Recovery | None = None

    async def start(self) -> None:
        await self.transport.start()
        if self.settings.attempt_log_path:
            attempt_log = RouterAttemptLog(self.settings.attempt_log_path, self.router.fees)
            self.metrics.watch_attempt_log(attempt_log)
            attempt_log.start()
            self.router.attempt_log = attempt_log
        if self.settings.journal_path:
            await self._replay(self.settings.journal_path)
        self.heap.start()
        self.parent.start()
        log.info(
            "router started",
            extra={
                "fields": {
                    "scenario": self.router.scenario.name,
                    "policy": self.router.active.policy.name,
                }
            },
        )

    async def _replay(self, path: str) -> None:
        """Open the journal, restore keys and book from it, finish what it left open."""
        settings = self.settings
        self.journal = journal = SqliteJournal(
            path, retention_s=settings.idempotency_ttl_s, max_payments=settings.max_payments
        )
        payments = PaymentJournal(journal, self.metrics)
        self.router.journal = self.reversals.journal = payments
        replay = await asyncio.to_thread(journal.replay)
        self.recovery = Recovery(self.router, self.idempotency, self.reversals, payments)
        self.recovery.restore(replay)

    async def stop(self) -> None:
        if self._routing:  # uvicorn drained the requests; these are their routing tasks
            await asyncio.wait(set(self._routing), timeout=self.settings.shutdown_grace_s)
        await self.reversals.close(grace_s=self.settings.shutdown_grace_s)
        if self.recovery is not None:
            await self.recovery.close()
        if self.journal is not None:
            await self.journal.close()  # what is queued is written first
        if self.router.attempt_log is not None:
            await self.router.attempt_log.close()
        await self.transport.close()
        self.heap.stop()
        self.parent.stop()
        log.info("router stopped", extra={"fields": {"payments": len(self.router.book)}})

    def begin(
        self, request: PaymentRequest, key: str, answer: asyncio.Future[StoredAnswer]
    ) -> None:
        """Start routing a newly claimed payment; its answer lands in ``answer``."""
        task = asyncio.get_running_loop().create_task(self._route(request, key, answer))
        self._routing.add(task)
        self.admission.enter()
        task.add_done_callback(self._routed)

    def _routed(self, task: asyncio.Task[None]) -> None:
        self._routing.discard(task)
        self.admission.leave()

    async def _route(
        self, request: PaymentRequest, key: str, answer: asyncio.Future[StoredAnswer]
    ) -> None:
        payment_id = new_payment_id()
        try:
            record = await self.router.route(request, payment_id, key)
            answer.set_result(StoredAnswer(payment_id, record.response))
        except JournalRefusedError as refused:
            # nothing was attempted: the key is free again for the client's retry
            problem = JournalRefusalError(refused)
            self.metrics.rejected.labels(problem.error).inc()
            self.idempotency.release(key)
            answer.set_result(
                StoredAnswer(
                    payment_id, orjson.dumps(problem.body()), problem.status, problem.headers
                )
            )
        except BaseException as exc:
            # the key stays claimed: a blind retry could authorise the card a second time
            log.error(
                "payment routing crashed",
                exc_info=exc,
                extra={"fields": {"payment_id": payment_id}},
            )
            answer.set_result(
                StoredAnswer(
                    payment_id,
                    orjson.dumps(
                        {
                            "error": "internal_error",
                            "payment_id": payment_id,
                            "problems": [
                                {
                                    "field": "",
                                    "problem": "routing failed unexpectedly; the "
                                    "payment's state is being reconciled, do not retry blindly",
                                }
                            ],
                        }
                    ),
                    500,
                )
            )
            if not isinstance(exc, Exception):
                raise


def create_app(
    scenario: Scenario,
    admin_token: str,
    *,
    transport: AcquirerTransport | None = None,
    settings: RouterSettings | None = None,
) -> RouterApp:
    """The routing service for ``scenario``; ``transport`` defaults to pooled aiohttp."""
    if not admin_token:
        raise ValueError("an admin token is required")
    settings = settings or RouterSettings()
    connections = settings.connections or default_connections(scenario, settings.policy)
    if transport is None:
        transport = AiohttpTransport(
            settings.acquirers_url,
            connections,
            pool_wait_s=settings.pool_wait_s or default_pool_wait_s(scenario, settings.policy),
        )
    service = RouterService(scenario, transport, settings, settings.max_in_flight or connections)
    restarts = int(os.environ.get(RESTARTS_ENV, "0") or 0)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.stop()

    app = FastAPI(
        title="routelab router",
        description="Routes card payments to acquirers with a scenario's routing policy.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # the docs pages load scripts from a CDN; the schema is enough
        redoc_url=None,
        openapi_url="/openapi.json",
        **_NO_TELEMETRY,
    )
    app.openapi = partial(build_openapi, app)  # type: ignore[method-assign]
    install_problem_handlers(app)
    app.state.service = service
    metrics = service.metrics
    book = service.router.book

    # the hot path, as raw ASGI (see router.endpoint): RouterApp sends POST straight to
    # it; the route in the app answers the other methods (405) and documents it
    payments = PaymentEndpoint(service.idempotency, metrics, service.begin, service.admission)
    app.router.routes.insert(0, Route("/v1/payments", payments, methods=["POST"]))

    @app.get(
        "/v1/payments/{payment_id}",
        response_model=None,
        responses={
            200: {"model": PaymentAnswer, "description": "the payment's final answer"},
            404: {"model": Problem, "description": "no payment with this id"},
        },
    )
    async def get_payment(payment_id: str) -> Response:
        record = book.get(payment_id)
        if record is None:
            return json_response(
                {
                    "error": "not_found",
                    "problems": [{"field": "payment_id", "problem": "no payment with this id"}],
                },
                404,
            )
        return Response(record.response, media_type=JSON)

    @app.get(
        "/metrics",
        response_model=None,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
    )
    async def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", response_model=None, responses={200: {"model": Health}})
    async def healthz() -> Response:
        active = service.router.active
        return json_response(
            {
                "status": "ok",
                "scenario": scenario.name,
                "policy": active.policy.name,
                "policy_version": active.version,
                "in_flight": service.admission.in_flight,
                "max_in_flight": service.admission.cap,
                "restarts": restarts,
                "journal": service.journal is not None,
                "recovering": service.recovery.recovering if service.recovery else 0,
            }
        )

    app.include_router(admin_routes(service.router, admin_token))
    return RouterApp(app, payments, settings.body_timeout_s)


class RouterApp:
    """The router's ASGI app: payments straight to their endpoint, the rest to FastAPI.

    FastAPI's middleware and route matching cost about a fifth of the router's CPU per
    payment; the payment endpoint needs none of it (it validates and answers itself).
    """

    def __init__(self, api: FastAPI, payments: PaymentEndpoint, body_timeout_s: float) -> None:
        self.api = api
        self.payments = payments
        self.state = api.state
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)  # lifespan
            return
        receive = BodyDeadline(receive, self.body_timeout_s)
        if scope["path"] == "/v1/payments" and scope["method"] == "POST":
            await self.payments(scope, receive, send)
        else:
            await self.api(scope, receive, send)
