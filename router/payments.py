"""One payment through the router: decide, attempt, learn, cascade or stop, record.

The routing decisions are the shared engine's (``router.engine``), exactly as in the
simulator; this module only supplies wall-clock time, talks to acquirers through the
connectors, and makes unknown outcomes safe: after a timeout or a broken answer the
attempt is voided or shown to hold no approval before any other acquirer is tried,
and each attempt carries its own acquirer-side key (``{payment_id}-{n}``) so an
acquirer can never mistake a cascade for a retry of the previous attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import orjson

from router.connectors import AttemptAnswer, Connector
from router.engine import Decision, RoutingEngine
from router.metrics import RouterMetrics
from router.payment_request import CardPayment, PaymentRequest
from router.records import AttemptRecord, PaymentBook, PaymentRecord, wall_clock
from router.reversals import LateReversals, settle
from scenarios.schema import RoutingPolicy, Scenario
from scenarios.taxonomy import CODES, TIMEOUT_CODE, OutcomeClass

log = logging.getLogger("router.payments")

_DECLINED = frozenset({OutcomeClass.SOFT_DECLINE, OutcomeClass.HARD_DECLINE})


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    """The policy serving traffic, its engine and version (1 at start, +1 per swap)."""

    policy: RoutingPolicy
    engine: RoutingEngine
    version: int
    since: float  # unix time


def engine_for(policy: RoutingPolicy, seed: int, version: int) -> RoutingEngine:
    """A fresh engine; its randomness (exploration, splits) comes from the scenario seed."""
    sequence = np.random.SeedSequence([seed, version])
    return RoutingEngine(policy, np.random.Generator(np.random.PCG64(sequence)))


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
        void_timeout_s: float = 2.0,
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
        self.void_timeout_s = void_timeout_s
        self._clock = clock
        self._start = clock()  # the engine's time origin
        self._merchant_country = scenario.merchant.country
        self.active = ActivePolicy(policy, engine_for(policy, self.seed, 1), 1, wall_clock())

    def swap_policy(self, policy: RoutingPolicy) -> ActivePolicy:
        """Serve ``policy`` from now on; payments already in flight finish on the old one."""
        version = self.active.version + 1
        self.active = ActivePolicy(
            policy, engine_for(policy, self.seed, version), version, wall_clock()
        )
        return self.active

    def scores(self) -> dict[str, dict[str, float]]:
        return self.active.engine.scores()

    def policy_label(self) -> tuple[str, int]:
        return self.active.policy.name, self.active.version

    async def route(
        self, request: PaymentRequest, payment_id: str, idempotency_key: str
    ) -> PaymentRecord:
        """Route one payment to its end and record it; never raises for acquirer trouble."""
        clock = self._clock
        t0 = clock()
        active = self.active  # a swap mid-payment must not mix two policies' feedback
        engine = active.engine
        payment = CardPayment.from_request(request, payment_id, self._merchant_country)
        decision = engine.decide(payment, t0 - self._start)
        attempts: list[AttemptRecord] = []
        final: AttemptAnswer | None = None
        acquirer: str | None = decision.acquirers[0]
        self.metrics.in_flight.inc()
        try:
            while acquirer is not None:
                answer = await self._attempt(
                    engine, decision, payment, acquirer, attempts=attempts, t0=t0
                )
                if answer is None:
                    break  # the latency budget is spent
                final = answer
                if answer.approved:
                    break
                now = clock()
                nxt = engine.next_acquirer(
                    decision, len(attempts), answer.info, (now - t0) * 1000.0
                )
                if not answer.certain and not await self._made_safe(
                    acquirer, payment_id, attempts[-1], cascading=nxt is not None
                ):
                    break
                acquirer = nxt
        finally:
            self.metrics.in_flight.dec()
        latency_s = clock() - t0
        record = self._record(
            request,
            payment_id,
            idempotency_key,
            decision=decision,
            active=active,
            attempts=attempts,
            final=final,
            latency_s=latency_s,
        )
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
        decision: Decision,
        payment: CardPayment,
        acquirer: str,
        *,
        attempts: list[AttemptRecord],
        t0: float,
    ) -> AttemptAnswer | None:
        clock = self._clock
        sent = clock()
        timeout_ms = engine.attempt_timeout_ms((sent - t0) * 1000.0)
        if timeout_ms <= 0.0:
            return None
        key = f"{payment.payment_id}-{len(attempts) + 1}"
        answer = await self.connectors[acquirer].authorise(payment, key, timeout_ms / 1000.0)
        now = clock()
        latency_ms = (now - sent) * 1000.0
        # feedback when the answer arrives, as in the simulator: the engine learns with delay
        engine.record(decision, acquirer, answer.info, latency_ms, now - self._start)
        outcome = answer.info.outcome.value
        attempts.append(
            AttemptRecord(
                acquirer, key, answer.code, answer.raw_code, outcome, latency_ms, answer.certain
            )
        )
        self.metrics.attempt(acquirer, outcome, latency_ms / 1000.0)
        return answer

    async def _made_safe(
        self, acquirer: str, payment_id: str, attempt: AttemptRecord, cascading: bool
    ) -> bool:
        """Settle an uncertain attempt; True when the payment may go to another acquirer."""
        connector = self.connectors[acquirer]
        if not cascading:
            # the payment stops here anyway: settle off the payer's clock
            self.reversals.follow(connector, payment_id, attempt, delay_s=0.0)
            return False
        result = await settle(connector, attempt.key, self.void_timeout_s)
        self.metrics.void(acquirer, result.value)
        if result.safe_to_cascade:
            attempt.void = result.value
            return True
        log.warning(
            "void unconfirmed; stopping rather than risk a second authorisation",
            extra={"fields": {"payment_id": payment_id, "acquirer": acquirer, "key": attempt.key}},
        )
        self.reversals.follow(connector, payment_id, attempt)
        return False

    def _record(
        self,
        request: PaymentRequest,
        payment_id: str,
        idempotency_key: str,
        *,
        decision: Decision,
        active: ActivePolicy,
        attempts: list[AttemptRecord],
        final: AttemptAnswer | None,
        latency_s: float,
    ) -> PaymentRecord:
        if final is None:
            status, code, decline_class = "failed", TIMEOUT_CODE, CODES[TIMEOUT_CODE].outcome
        else:
            outcome = final.info.outcome
            code, decline_class = final.code, outcome
            if outcome is OutcomeClass.APPROVED:
                status = "approved"
            elif outcome in _DECLINED:
                status = "declined"
            else:
                status = "failed"
        acquirer = attempts[-1].acquirer if attempts else None
        # copied: orjson's output keeps a 4 KB buffer, and this is kept for every payment
        response = bytes(
            memoryview(
                orjson.dumps(
                    {
                        "payment_id": payment_id,
                        "status": status,
                        "acquirer": acquirer,
                        "decline_class": None if status == "approved" else decline_class.value,
                        "code": code,
                        "rule": decision.rule,
                        "policy": active.policy.name,
                        "policy_version": active.version,
                        "latency_ms": round(latency_s * 1000.0, 3),
                        "attempts": [a.public() for a in attempts],
                    }
                )
            )
        )
        return PaymentRecord(
            payment_id,
            idempotency_key,
            status,
            acquirer,
            attempts[-1].key if status == "approved" else None,
            request.amount,
            request.currency,
            request.merchant_reference,
            active.version,
            wall_clock(),
            response,
            attempts,
        )
