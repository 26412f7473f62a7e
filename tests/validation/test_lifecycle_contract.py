"""The contract between the two engines: the same scripted acquirer answers give the same
payment, step for step, in the simulator and in the live router.

Acquirers here answer deterministically (fixed latencies, probabilities of 0 or 1): one
hangs and approves late, one declines with "do not honour", one approves; one answers
voids slower than the router waits. Each case is played once through the simulator
(virtual time, the behaviour model) and once through the routing service against the
mock acquirer service (real asyncio time, in-process HTTP), and the two traces must be
the same: the attempts (acquirer and answer), every void and status inquiry with its
result, the final status and code, the lifecycle counters and the late approvals the
acquirer reversed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from loadtests.live_tally import count_answer, fee_schedule
from loadtests.payer import parse_answer
from mock_acquirers.app import create_app as create_mock
from results.tally import Tally
from router.app import RouterSettings, create_app
from router.connectors import AttemptStatus, Connector, VoidResult
from router.engine.flow import (
    INQUIRE,
    NOT_VOIDED,
    NOTHING_APPROVED,
    STATUS_APPROVED,
    STATUS_UNKNOWN,
    VOID,
    VOID_FAILED,
    VOIDED,
)
from router.transport import AsgiTransport
from scenarios.loader import parse_scenario
from scenarios.sampler import Payment
from scenarios.schema import Scenario
from simulator.model import Flight, Replication
from simulator.observer import Observer

TOKEN = "contract-token"
# Times (ms): the hang outlasts the attempt timeout (a late approval); the slow void
# outlasts the void timeout, so the router asks for the status, by when the hung attempt
# is finished (and reversed, as its void arrived before): margins of several hundred ms.
SCENARIO = """
name: contract
merchant: {country: DE}
acquirers:
  - {name: hang_ok, dialect: iso8583, latency: {dist: fixed, ms: 20}, timeout_rate: 1.0,
     hang_ms: 1000, approval: {base: 1.0}, void_latency: {dist: fixed, ms: 40},
     fees: {default: {pct_bps: 100, fixed: 5, per_attempt: 2}}}
  - {name: hang_slow_void, dialect: psp, latency: {dist: fixed, ms: 20}, timeout_rate: 1.0,
     hang_ms: 1000, approval: {base: 1.0}, void_latency: {dist: fixed, ms: 3000},
     status_latency: {dist: fixed, ms: 60}}
  - {name: decline, dialect: psp, latency: {dist: fixed, ms: 30}, approval: {base: 0.0},
     decline_codes: {"05": 1}, fees: {default: {per_attempt: 3}}}
  - {name: ok, dialect: iso8583, latency: {dist: fixed, ms: 40}, approval: {base: 1.0},
     fees: {default: {pct_bps: 120, fixed: 10}}}
traffic:
  duration_s: 20
  arrival: {profile: constant, rate_per_s: 0.25}
  mix: {networks: {visa: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
  issuer_declines: {base: {}}
policies:
  - name: late_approval_voided
    strategy: {type: priority}
    default: [hang_ok, decline, ok]
    retry: {max_attempts: 3, attempt_timeout_ms: 200, budget_ms: 5000, void_timeout_ms: 1200}
  - name: void_unanswered_status_settles
    strategy: {type: priority}
    default: [hang_slow_void, ok]
    retry: {max_attempts: 2, attempt_timeout_ms: 200, budget_ms: 5000, void_timeout_ms: 1200,
            status_timeout_ms: 1000}
  - name: stop_on_timeout
    strategy: {type: priority}
    default: [hang_ok, ok]
    retry: {max_attempts: 2, attempt_timeout_ms: 200, budget_ms: 5000, on_timeout: stop}
  - name: decline_then_approve
    strategy: {type: priority}
    default: [decline, ok]
    retry: {max_attempts: 2, attempt_timeout_ms: 500, budget_ms: 5000}
"""

EXPECTED = {
    "late_approval_voided": [
        ("attempt", "hang_ok", "timeout"),
        ("void", "hang_ok", "voided"),
        ("attempt", "decline", "05"),
        ("attempt", "ok", "00"),
        ("finish", "approved", "00"),
    ],
    "void_unanswered_status_settles": [
        ("attempt", "hang_slow_void", "timeout"),
        ("void", "hang_slow_void", "failed"),
        ("status", "hang_slow_void", "nothing_approved"),
        ("attempt", "ok", "00"),
        ("finish", "approved", "00"),
    ],
    "stop_on_timeout": [
        ("attempt", "hang_ok", "timeout"),
        ("finish", "failed", "68"),
    ],
    "decline_then_approve": [
        ("attempt", "decline", "05"),
        ("attempt", "ok", "00"),
        ("finish", "approved", "00"),
    ],
}
# per payment: (timeouts, settled, unsettled, reversed approvals)
LIFECYCLE = {
    "late_approval_voided": (1, 1, 0, 1),
    "void_unanswered_status_settles": (1, 1, 0, 1),
    "stop_on_timeout": (1, 0, 1, 1),
    "decline_then_approve": (0, 0, 0, 0),
}

VOID_WORDS = {VOIDED: "voided", NOT_VOIDED: "not_voided", VOID_FAILED: "failed"}
STATUS_WORDS = {
    NOTHING_APPROVED: "nothing_approved",
    STATUS_APPROVED: "approved",
    STATUS_UNKNOWN: "unknown",
}
Trace = list[tuple[str, str, str]]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return parse_scenario(SCENARIO, "contract")


# --- the simulator's side ------------------------------------------------------------------


class Tracer(Observer):
    def __init__(self) -> None:
        self.traces: dict[int, Trace] = {}

    def attempt(
        self,
        flight: Flight,
        acquirer: str,
        code: str,
        timed_out: bool,
        latency_ms: float,
        fee: float,
        sent_at: float,
    ) -> None:
        answer = "timeout" if timed_out else code
        self.traces.setdefault(flight.number, []).append(("attempt", acquirer, answer))

    def settle(self, flight: Flight, action: int, result: int, at: float) -> None:
        kind, word = ("void", VOID_WORDS[result]) if action == VOID else ("status", "")
        if action == INQUIRE:
            word = STATUS_WORDS[result]
        self.traces[flight.number].append((kind, flight.flow.acquirer, word))

    def finish(self, flight: Flight) -> None:
        flow = flight.flow
        self.traces[flight.number].append(("finish", flow.status, flow.code))


def simulated(scenario: Scenario, policy: str) -> tuple[list[Trace], Tally]:
    tracer = Tracer()
    replication = Replication(
        scenario, scenario.policy(policy), np.random.SeedSequence(3), observer=tracer
    )
    tally = replication.run()
    return list(tracer.traces.values()), tally


# --- the live router's side ------------------------------------------------------------------


def recording(connector: Connector, trace: Trace) -> None:
    """Wrap a connector's calls so each one lands in ``trace`` with its result."""
    authorise, void, status = connector.authorise, connector.void, connector.status
    name = connector.acquirer

    async def traced_authorise(payment: Any, key: str, timeout_s: float) -> Any:
        answer = await authorise(payment, key, timeout_s)
        trace.append(("attempt", name, "timeout" if answer.code == "68" else answer.code))
        return answer

    async def traced_void(key: str, timeout_s: float) -> VoidResult:
        result = await void(key, timeout_s)
        word = {"voided": "voided", "not_voided": "not_voided", "unknown": "failed"}
        trace.append(("void", name, word[result.value]))
        return result

    async def traced_status(key: str, timeout_s: float) -> AttemptStatus:
        result = await status(key, timeout_s)
        word = "nothing_approved" if result.nothing_approved else result.value
        trace.append(("status", name, "unknown" if word == "pending" else word))
        return result

    connector.authorise = traced_authorise  # type: ignore[method-assign]
    connector.void = traced_void  # type: ignore[method-assign]
    connector.status = traced_status  # type: ignore[method-assign]


def live(scenario: Scenario, policy: str) -> tuple[Trace, bytes, int]:
    """One payment through the router and the mock acquirers; its trace, its answer and
    the approvals the acquirers reversed."""
    trace: Trace = []

    async def main() -> tuple[bytes, int]:
        mock = create_mock(scenario, TOKEN)
        transport = AsgiTransport(mock)
        app = create_app(
            scenario,
            TOKEN,
            transport=transport,
            settings=RouterSettings(policy=policy, late_check_horizon_s=5.0),
        )
        service = app.state.service
        for connector in service.router.connectors.values():
            recording(connector, trace)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://router")
        admin = httpx.AsyncClient(
            transport=httpx.ASGITransport(mock),
            base_url="http://mock",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        try:
            body = {
                "amount": 1000,
                "currency": "EUR",
                "card": {
                    "bin": "424242",
                    "last4": "4242",
                    "network": "visa",
                    "type": "credit",
                    "issuer_country": "DE",
                },
                "merchant_reference": "contract-1",
            }
            response = await client.post(
                "/v1/payments", json=body, headers={"Idempotency-Key": "contract-1"}
            )
            assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            trace.append(("finish", answer["status"], answer["code"]))
            await asyncio.sleep(1.5)  # hung attempts finish; background settling runs
            reversed_ = 0
            for name in scenario.acquirer_names:
                counts = (await admin.get(f"/admin/acquirers/{name}/counters")).json()
                reversed_ += counts["reversals"]
            return response.content, reversed_
        finally:
            await client.aclose()
            await admin.aclose()
            await service.reversals.close()
            await transport.close()
            for acquirer in mock.acquirers.values():
                acquirer.cancel_pending()

    answer, reversed_ = asyncio.run(main())
    # the background follow-up of an unsettled attempt is not part of the payment
    cut = next(i for i, step in enumerate(trace) if step[0] == "finish")
    return trace[: cut + 1], answer, reversed_


COUNTED = (
    "payments",
    "approved",
    "first_attempt_approved",
    "attempts",
    "cascaded",
    "recovered",
    "timeouts",
    "settled",
    "unsettled",
    "approved_amount",
    "first_attempts",
    "attempts_by_acquirer",
    "approvals_by_acquirer",
    "declines_by_code",
    "declines_by_class",
)


def per_payment(tally: Tally) -> dict[str, Any]:
    """The tally's counts divided by its payments: one payment's worth."""
    report = tally.report()
    n = tally.payments

    def each(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v / n for k, v in value.items() if v}
        if isinstance(value, list):
            return [v / n for v in value]
        return value / n

    figures = {key: each(report[key]) for key in COUNTED}
    figures["cost"] = round(tally.cost / n, 9)
    return figures


@pytest.mark.parametrize("policy", sorted(EXPECTED))
def test_both_engines_play_the_same_payment(scenario: Scenario, policy: str) -> None:
    traces, simulated_tally = simulated(scenario, policy)
    assert traces and all(t == EXPECTED[policy] for t in traces), traces[:1]
    live_trace, body, reversed_live = live(scenario, policy)
    assert live_trace == EXPECTED[policy]
    # the ONE tally, fed each engine's way: the same counts for the same payment
    live_tally = Tally(scenario.acquirer_names, scenario.traffic.duration_s, scenario.bucket_s)
    answer = parse_answer(body)
    payment = Payment(1000, "EUR", "visa", "credit", "DE", "424242", False)
    latency_ms = float(orjson.loads(body)["latency_ms"])
    count_answer(live_tally, 1.0, payment, answer, latency_ms, fee_schedule(scenario))
    assert per_payment(live_tally) == per_payment(simulated_tally)
    timeouts, settled, unsettled, reversed_ = LIFECYCLE[policy]
    n = simulated_tally.payments
    assert (live_tally.timeouts, live_tally.settled, live_tally.unsettled) == (
        timeouts,
        settled,
        unsettled,
    )
    assert simulated_tally.reversed_approvals == reversed_ * n
    assert reversed_live == reversed_
