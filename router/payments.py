"""One payment through the router: decide, then drive its lifecycle, learn, record.

The routing decisions and the lifecycle are the shared engine's (``router.engine``),
exactly as in the simulator: :class:`PaymentFlow` says when to send an attempt, void
or inquire, cascade or stop; this module only supplies wall-clock time and talks to
acquirers through the connectors. Each attempt carries its own acquirer-side key
(``{payment_id}-{n}``) so an acquirer can never mistake a cascade for a retry of the
previous attempt. With a journal (``router.payment_journal``) every step is recorded,
and every attempt is durable before it leaves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from router.attempt_log import RouterAttemptLog
from router.connectors import Connector
from router.engine import Decision, PaymentFlow, RoutingEngine
from router.engine.flow import FINISH, SEND
from router.engine.schemes import scheme_rules
from router.engine.strategies import AttemptResult
from router.metrics import RouterMetrics
from router.payment_journal import PaymentJournal, not_journaled
from router.payment_request import CardPayment, PaymentRequest
from router.records import AttemptRecord, PaymentBook, PaymentRecord, payment_answer, wall_clock
from router.reversals import LateReversals, carry_out
from scenarios.schema import FeeSchedule, RoutingPolicy, Scenario
from scenarios.taxonomy import OutcomeClass

log = logging.getLogger("router.payments")


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    """The policy serving traffic, its engine and version (1 at start, +1 per swap)."""

    policy: RoutingPolicy
    engine: RoutingEngine
    version: int
    since: float  # unix time


def engine_for(scenario: Scenario, policy: RoutingPolicy, seed: int, version: int) -> RoutingEngine:
    """A fresh engine; its randomness (exploration, splits) comes from the scenario seed."""
    sequence = np.random.SeedSequence([seed, version])
    return RoutingEngine(
        policy,
        np.random.Generator(np.random.PCG64(sequence)),
        acquirers=tuple(scenario.acquirer_names),
        fees=FeeSchedule(scenario.acquirers),
        schemes=scheme_rules(scenario, live=True),
    )


class PaymentRouter:
    """Routes payments for one scenario with a hot-swappable policy."""

    def __init__(
        self,
        scenario: Scenario,
        policy: RoutingPolicy,
        connectors: dict[str, Connector],
        *,
        metrics: RouterMetrics,
        book: PaymentBook,
        reversals: LateReversals,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        missing = set(scenario.acquirer_names) - set(connectors)
        if missing:
            raise ValueError(f"no connector for acquirers {sorted(missing)}")
        self.scenario = scenario
        self.connectors = connectors
        self.metrics = metrics
        self.book = book
        self.reversals = reversals
        self.seed = scenario.seed if seed is None else seed
        self.fees = FeeSchedule(scenario.acquirers)
        self._clock = clock
        self._start = clock()  # the engine's time origin
        self._merchant_country = scenario.merchant.country
        self.active = ActivePolicy(
            policy, engine_for(scenario, policy, self.seed, 1), 1, wall_clock()
        )
        self.journal: PaymentJournal | None = None  # set when the router keeps one
        self.attempt_log: RouterAttemptLog | None = None  # set when it writes one

    def swap_policy(self, policy: RoutingPolicy) -> ActivePolicy:
        """Serve ``policy`` from now on; payments already in flight finish on the old one."""
        version = self.active.version + 1
        self.active = ActivePolicy(
            policy, engine_for(self.scenario, policy, self.seed, version), version, wall_clock()
        )
        return self.active

    def scores(self) -> dict[str, dict[str, float]]:
        return self.active.engine.scores()

    def policy_label(self) -> tuple[str, int]:
        return self.active.policy.name, self.active.version

    def now(self) -> float:
        """The engine's time: seconds since this router started."""
        return self._clock() - self._start

    async def route(
        self, request: PaymentRequest, payment_id: str, idempotency_key: str
    ) -> PaymentRecord:
        """Route one payment to its end and record it; never raises for acquirer trouble."""
        clock = self._clock
        t0 = clock()
        active = self.active  # a swap mid-payment must not mix two policies' feedback
        engine = active.engine
        payment = CardPayment.from_request(request, payment_id, self._merchant_country)
        now = self.now
        decision = engine.decide(payment, t0 - self._start)
        flow = engine.flow(decision, t0 - self._start, payment)
        journal = self.journal
        if journal is not None:  # raises JournalRefusedError: refused, nothing attempted
            journal.started(
                payment_id,
                idempotency_key,
                request.fingerprint(),
                decision.rule,
                decision.acquirers,
                {
                    "amount": request.amount,
                    "currency": request.currency,
                    "merchant_reference": request.merchant_reference,
                    "policy": active.policy.name,
                    "policy_version": active.version,
                },
            )
        attempts: list[AttemptRecord] = []
        settling = False  # whether the flow tried to settle an unknown outcome itself
        self.metrics.in_flight.inc()
        try:
            action = flow.start(t0 - self._start)
            while action != FINISH:
                if action == SEND:
                    action = await self._attempt(engine, flow, payment, attempts)
                else:
                    settling = True
                    connector = self.connectors[flow.acquirer]
                    action = await carry_out(
                        action,
                        flow,
                        connector,
                        attempts[-1],
                        self.metrics,
                        now,
                        journal,
                        payment_id,
                    )
        finally:
            self.metrics.in_flight.dec()
        if flow.unsettled:
            attempt = attempts[flow.unsettled - 1]
            if settling:
                log.warning(
                    "void unconfirmed; stopping rather than risk a second authorisation",
                    extra={
                        "fields": {
                            "payment_id": payment_id,
                            "acquirer": attempt.acquirer,
                            "key": attempt.key,
                        }
                    },
                )
            # the payment stopped: settle off the payer's clock, at once if nothing was
            # tried yet, else after giving the acquirer a moment
            self.reversals.follow(
                self.connectors[attempt.acquirer],
                payment_id,
                attempt,
                flow,
                now,
                delay_s=None if settling else 0.0,
            )
        if self.attempt_log is not None:
            self.attempt_log.payment(payment, flow, attempts)
        latency_s = clock() - t0
        record = self._record(
            request,
            payment_id,
            idempotency_key,
            decision=decision,
            active=active,
            attempts=attempts,
            flow=flow,
            latency_s=latency_s,
        )
        if journal is not None:  # durable before the client can see it
            await journal.finished(payment_id, record.status, 200, record.response)
        self.book.add(record)
        self.metrics.payment(record.status, record.acquirer, latency_s)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "payment routed",
                extra={
                    "fields": {
                        "payment_id": payment_id,
                        "status": record.status,
                        "acquirer": record.acquirer,
                        "attempts": len(attempts),
                        "latency_ms": round(latency_s * 1000.0, 3),
                    }
                },
            )
        return record

    async def _attempt(
        self,
        engine: RoutingEngine,
        flow: PaymentFlow,
        payment: CardPayment,
        attempts: list[AttemptRecord],
    ) -> int:
        """Send the flow's attempt; returns the flow's next action."""
        clock = self._clock
        acquirer = flow.acquirer
        number = flow.attempt
        key = f"{payment.payment_id}-{number}"
        journal = self.journal
        if journal is None or await journal.before_send(payment.payment_id, number, acquirer, key):
            sent = clock()
            answer = await self.connectors[acquirer].authorise(
                payment, key, flow.timeout_ms / 1000.0
            )
        else:  # not durable, so not sent: the router's own failure
            sent = clock()
            answer = not_journaled()
        answered = clock()
        if journal is not None:
            journal.answered(payment.payment_id, number, answer)
        latency_ms = (answered - sent) * 1000.0
        at = answered - self._start
        info = answer.info
        outcome = info.outcome
        fee = self.fees.charge(acquirer, payment.network, payment.amount, answer.approved)
        # feedback when the answer arrives, as in the simulator: the engine learns with delay
        engine.record(
            AttemptResult(
                flow.decision,
                acquirer,
                answer.code,
                outcome,
                info.acquirer_side,
                latency_ms,
                fee,
                at,
                payment.card,
            )
        )
        attempts.append(
            AttemptRecord(
                acquirer,
                key,
                answer.code,
                answer.raw_code,
                outcome.value,
                latency_ms,
                answer.certain,
                number=number,
                sent_s=sent - self._start,
            )
        )
        self.metrics.attempt(acquirer, outcome.value, latency_ms / 1000.0)
        if outcome is OutcomeClass.TIMEOUT:
            return flow.on_timed_out(at)
        return flow.on_answered(answer.code, info, answer.certain, at, answer.advice)

    def _record(
        self,
        request: PaymentRequest,
        payment_id: str,
        idempotency_key: str,
        *,
        decision: Decision,
        active: ActivePolicy,
        attempts: list[AttemptRecord],
        flow: PaymentFlow,
        latency_s: float,
    ) -> PaymentRecord:
        status = flow.status
        response = payment_answer(
            payment_id,
            status,
            attempts,
            decline_class=flow.info.outcome.value,
            code=flow.code,
            rule=decision.rule,
            policy=active.policy.name,
            policy_version=active.version,
            latency_ms=latency_s * 1000.0,
            schemes={
                "fees": flow.scheme_fees,
                "excess_attempts": flow.excess_attempts,
                "stopped": flow.scheme_stopped,
            }
            if flow.excess_attempts or flow.scheme_stopped
            else None,
        )
        return PaymentRecord(
            payment_id,
            idempotency_key,
            status,
            attempts[-1].acquirer if attempts else None,
            attempts[-1].key if status == "approved" else None,
            request.amount,
            request.currency,
            request.merchant_reference,
            active.version,
            wall_clock(),
            response,
            attempts,
        )
