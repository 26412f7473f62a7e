"""The mock acquirers' admin API: inject incidents and faults, read counters and ledgers.

A live run's orchestrator drives it (start an outage at minute 5, read the ledgers at
the end to reconcile); it needs ``Authorization: Bearer <token>`` so a load generator
pointed at the wrong port cannot trip an incident by accident.

It drives whatever gives it a :class:`MockService` (the acquirers, the scenario clock,
a reset); the service in ``mock_acquirers/app.py`` is one, and this module does not
import it.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Mapping
from typing import Any, Protocol, cast

from pydantic import ValidationError

from mock_acquirers.acquirer import MockAcquirer
from mock_acquirers.asgi import (
    Receive,
    RequestError,
    Scope,
    Send,
    header,
    load_json_object,
    read_body,
    send_error,
    send_json,
)
from mock_acquirers.faults import FAULT_KINDS, FOREVER_S, Fault, FaultKind
from scenarios.schema import Incident, Scenario

INCIDENT_FIELDS = frozenset(
    {"name", "approval_delta", "error_rate", "timeout_rate", "latency_factor", "duration_s", "when"}
)
FAULT_FIELDS = frozenset({"kind", "rate", "duration_s", "delay_ms"})


class MockService(Protocol):
    """What the admin API reads and drives: the acquirers, the scenario clock, a reset."""

    @property
    def scenario(self) -> Scenario:
        """The scenario being served."""

    @property
    def time_scale(self) -> float:
        """Scenario seconds per wall second."""

    @property
    def seed(self) -> int:
        """The seed of the acquirers' random streams."""

    @property
    def late_ms(self) -> float:
        """The default delay of a ``late_approval`` fault."""

    @property
    def acquirers(self) -> Mapping[str, MockAcquirer]:
        """The acquirers by name."""

    def now(self) -> float:
        """Scenario time in seconds."""

    def reset(self) -> None:
        """Back to the state at start (ledgers, counters, keys, incidents, faults, clock)."""


class AdminApi:
    """Handles ``/admin/...`` for a :class:`MockService`."""

    def __init__(self, service: MockService, token: str) -> None:
        self._service = service
        self._expected = f"Bearer {token}".encode()

    def authorised(self, scope: Scope) -> bool:
        given = header(scope, b"authorization")
        return given is not None and hmac.compare_digest(given.encode("latin-1"), self._expected)

    async def handle(self, scope: Scope, receive: Receive, send: Send, rest: list[str]) -> None:
        """Serve ``/admin/`` + ``"/".join(rest)``."""
        if not self.authorised(scope):
            await send_error(
                send,
                401,
                "admin API needs 'Authorization: Bearer <token>'",
                "Authorization",
                [(b"www-authenticate", b"Bearer")],
            )
            return
        method = scope["method"]
        service = self._service
        try:
            if rest == ["reset"]:
                if method != "POST":
                    return await _not_allowed(send, "POST")
                service.reset()
                return await send_json(
                    send, 200, {"reset": True, "acquirers": list(service.acquirers)}
                )
            if rest in (["ledger"], ["counters"], ["acquirers"]):
                if method != "GET":
                    return await _not_allowed(send, "GET")
                return await send_json(send, 200, self._overview(rest[0]))
            if len(rest) == 3 and rest[0] == "acquirers":
                acquirer = service.acquirers.get(rest[1])
                if acquirer is None:
                    return await send_error(
                        send,
                        404,
                        f"unknown acquirer {rest[1]!r} (known: {', '.join(service.acquirers)})",
                        "acquirer",
                    )
                return await self._acquirer(acquirer, rest[2], method, receive, send)
        except RequestError as exc:
            return await send_json(send, 400, {"error": exc.message, "field": exc.field})
        await send_error(send, 404, f"no such admin endpoint: {method} {scope['path']}", "path")

    async def _acquirer(
        self, acquirer: MockAcquirer, what: str, method: str, receive: Receive, send: Send
    ) -> None:
        t = self._service.now()
        if what == "incidents":
            if method == "POST":
                incident = self._incident(load_json_object(await read_body(receive)), t)
                acquirer.behaviour.inject(incident)
                return await send_json(
                    send,
                    201,
                    {
                        "acquirer": acquirer.name,
                        "incident": _describe_incident(incident),
                        "active_incidents": acquirer.behaviour.active_incidents(t),
                    },
                )
            if method == "DELETE":
                return await send_json(
                    send,
                    200,
                    {"acquirer": acquirer.name, "cleared": acquirer.behaviour.clear_injected()},
                )
            if method == "GET":
                return await send_json(
                    send,
                    200,
                    {
                        "acquirer": acquirer.name,
                        "scenario_time_s": t,
                        "active_incidents": acquirer.behaviour.active_incidents(t),
                    },
                )
            return await _not_allowed(send, "GET, POST, DELETE")
        if what == "faults":
            if method == "POST":
                fault = self._fault(load_json_object(await read_body(receive)), t)
                acquirer.faults.inject(fault)
                return await send_json(
                    send, 201, {"acquirer": acquirer.name, "fault": fault.describe()}
                )
            if method == "DELETE":
                return await send_json(
                    send, 200, {"acquirer": acquirer.name, "cleared": acquirer.faults.clear()}
                )
            if method == "GET":
                return await send_json(
                    send,
                    200,
                    {
                        "acquirer": acquirer.name,
                        "active_faults": [f.describe() for f in acquirer.faults.active(t)],
                    },
                )
            return await _not_allowed(send, "GET, POST, DELETE")
        if what in ("counters", "ledger"):
            if method != "GET":
                return await _not_allowed(send, "GET")
            data = _counters(acquirer) if what == "counters" else _ledger([acquirer])
            return await send_json(send, 200, data)
        await send_error(send, 404, f"no such admin endpoint for {acquirer.name}: {what}", "path")

    def _overview(self, what: str) -> dict[str, Any]:
        service = self._service
        acquirers = list(service.acquirers.values())
        if what == "ledger":
            return _ledger(acquirers)
        if what == "counters":
            return {a.name: _counters(a) for a in acquirers}
        t = service.now()
        return {
            "scenario": service.scenario.name,
            "scenario_time_s": t,
            "time_scale": service.time_scale,
            "seed": service.seed,
            "acquirers": [
                {
                    "name": a.name,
                    "dialect": a.dialect.name,
                    "capacity": a.acquirer.capacity,
                    "active_incidents": a.behaviour.active_incidents(t),
                    "active_faults": [f.kind for f in a.faults.active(t)],
                }
                for a in acquirers
            ],
        }

    @staticmethod
    def _incident(data: dict[str, Any], t: float) -> Incident:
        _only(data, INCIDENT_FIELDS)
        duration = _duration(data)
        fields = {k: v for k, v in data.items() if k != "duration_s"}
        fields.setdefault("name", "injected")
        try:
            return Incident.model_validate(
                {**fields, "start_s": t, "end_s": FOREVER_S if duration is None else t + duration}
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"]) or "body"
            raise RequestError(f"{field}: {error['msg']}", field) from None

    def _fault(self, data: dict[str, Any], t: float) -> Fault:
        _only(data, FAULT_FIELDS)
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise RequestError(f"kind must be one of {', '.join(FAULT_KINDS)}", "kind")
        rate = _number(data, "rate", 1.0)
        if not 0.0 <= rate <= 1.0:
            raise RequestError("rate must be in [0, 1]", "rate")
        delay_ms = _number(data, "delay_ms", self._service.late_ms)
        if delay_ms < 0.0:
            raise RequestError("delay_ms must not be negative", "delay_ms")
        duration = _duration(data)
        end = FOREVER_S if duration is None else t + duration
        return Fault(cast(FaultKind, kind), rate, t, end, delay_ms)


def _only(data: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in data:
        if key not in allowed:
            raise RequestError(
                f"unknown field {key!r} (allowed: {', '.join(sorted(allowed))})", key
            )


def _number(data: dict[str, Any], name: str, default: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestError(f"{name} must be a finite number", name)
    return float(value)


def _duration(data: dict[str, Any]) -> float | None:
    if data.get("duration_s") is None:
        return None
    duration = _number(data, "duration_s", 0.0)
    if duration <= 0.0:
        raise RequestError(
            "duration_s must be positive (omit it to last until cleared)", "duration_s"
        )
    return duration


def _describe_incident(incident: Incident) -> dict[str, Any]:
    data: dict[str, Any] = incident.model_dump(mode="json")
    if incident.end_s >= FOREVER_S:
        data["end_s"] = None
    return data


def _counters(acquirer: MockAcquirer) -> dict[str, Any]:
    return {"acquirer": acquirer.name, **acquirer.counts()}


def _ledger(acquirers: list[MockAcquirer]) -> dict[str, Any]:
    entries = [{"acquirer": a.name, **e.as_dict()} for a in acquirers for e in a.ledger]
    reversed_ = sum(1 for e in entries if e["status"] == "reversed")
    return {"entries": entries, "approved": len(entries) - reversed_, "reversed": reversed_}


async def _not_allowed(send: Send, allow: str) -> None:
    await send_error(
        send, 405, f"method not allowed; use {allow}", "method", [(b"allow", allow.encode())]
    )
