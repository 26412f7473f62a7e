"""What the simulator knows and a router cannot: each acquirer's true chances for a payment.

The oracle (``router.engine.oracle``) is given a :class:`BehaviourTruth` in its strategy
context; it reads the same behaviour model that decides every simulated attempt, so the
oracle's knowledge is exact, incidents (and their ramps) included. Issuer declines are
left out: they are the same at every acquirer.

An attempt sent to acquirer ``a`` at ``t``, with the rates :meth:`AcquirerBehaviour.
conditions` gives at ``t`` (approval ``p``, technical errors ``e``, hung requests ``h``)
and ``w`` = P(latency * latency_factor <= the router's attempt timeout):

- is **approved** with probability ``(1 - e - h) * w * p``;
- ends in a failure the policy's retry **cascades** with probability: technical errors
  ``e`` (when ``technical_error`` is in ``cascade_on``), timeouts ``h + (1 - e - h) *
  (1 - w)`` (when ``timeout`` is, and the policy voids first), declines ``(1 - e - h) *
  w * (1 - p)`` times the share of the acquirer's decline codes that cascade (soft
  cascadable codes such as 05 with ``soft_decline``, technical codes such as 91 with
  ``technical_error``), less, on Mastercard, the share carrying advice to stop.

Queueing for capacity and the latency budget are left out (not known ahead of time).
"""

from __future__ import annotations

from mock_acquirers.behaviour import AcquirerBehaviour, latency_cdf
from router.engine.schemes import STOP_ADVICE
from scenarios.conditions import PaymentAttributes
from scenarios.schema import Acquirer, RetryPolicy
from scenarios.taxonomy import OutcomeClass, classify


def cascading_decline_share(acquirer: Acquirer, cascade_on: frozenset[str]) -> float:
    """The share of the acquirer's own decline codes a retry policy cascades."""
    codes = acquirer.decline_codes
    total = sum(codes.values())
    cascading = 0.0
    for code, weight in codes.items():
        info = classify(code)
        if info.cascadable and info.outcome.value in cascade_on:
            cascading += weight
    return cascading / total if total else 0.0


class BehaviourTruth:
    """The oracle's :class:`~router.engine.oracle.Truth`, read off the behaviour model."""

    def __init__(self, behaviours: list[AcquirerBehaviour], retry: RetryPolicy) -> None:
        self._behaviours = {b.name: b for b in behaviours}
        self._timeout_ms = retry.attempt_timeout_ms
        self.max_attempts = retry.max_attempts
        cascade_on = frozenset(retry.cascade_on)
        self._technical = OutcomeClass.TECHNICAL_ERROR.value in cascade_on
        self._timeouts = (
            OutcomeClass.TIMEOUT.value in cascade_on and retry.on_timeout == "void_then_cascade"
        )
        self._declines = {
            b.name: cascading_decline_share(b.acquirer, cascade_on) for b in behaviours
        }
        self._stop_advice = {
            b.name: sum(
                share
                for code, share in b.acquirer.merchant_advice_codes.items()
                if code in STOP_ADVICE
            )
            for b in behaviours
        }
        # P(latency * factor <= timeout) per (acquirer, latency factor): few distinct factors
        self._in_time: dict[tuple[str, float], float] = {}

    def approval(self, payment: PaymentAttributes, acquirer: str, now: float) -> float:
        c = self._behaviours[acquirer].conditions(payment, now)
        answered = max(0.0, 1.0 - c.error_rate - c.timeout_rate)
        return answered * c.approval * self.in_time(acquirer, c.latency_factor)

    def cascade(self, payment: PaymentAttributes, acquirer: str, now: float) -> float:
        c = self._behaviours[acquirer].conditions(payment, now)
        answered = max(0.0, 1.0 - c.error_rate - c.timeout_rate)
        w = self.in_time(acquirer, c.latency_factor)
        declines = self._declines[acquirer]
        if payment.network == "mastercard":
            declines *= 1.0 - self._stop_advice[acquirer]
        q = answered * w * (1.0 - c.approval) * declines
        if self._technical:
            q += min(1.0, c.error_rate)
        if self._timeouts:
            q += min(1.0, c.timeout_rate) + answered * (1.0 - w)
        return min(1.0, q)

    def in_time(self, acquirer: str, factor: float) -> float:
        """P(the acquirer's latency, times ``factor``, is within the attempt timeout)."""
        key = (acquirer, factor)
        found = self._in_time.get(key)
        if found is None:
            model = self._behaviours[acquirer].acquirer.latency
            found = self._in_time[key] = latency_cdf(model, self._timeout_ms / factor)
            if len(self._in_time) > 4096:  # a ramped latency factor takes many values
                self._in_time.clear()
        return found

    def fee(self, payment: PaymentAttributes, acquirer: str, approved: bool) -> float:
        return self._behaviours[acquirer].fee(payment, approved)
