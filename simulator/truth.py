"""What the simulator knows and a router cannot: each acquirer's true chance of approval.

The oracle (``router.engine.oracle``) is given a :class:`BehaviourTruth` in its strategy
context; it reads the same behaviour model that decides every simulated attempt, so the
oracle's knowledge is exact, incidents (and their ramps) included.

An attempt sent to acquirer ``a`` at ``t`` is approved (issuer's own declines aside,
which are the same everywhere) when the acquirer's platform neither fails nor hangs,
the acquirer-side approval draw succeeds, and the answer comes within the router's
attempt timeout:

    P = (1 - error_rate - timeout_rate) * approval * P(latency * latency_factor <= timeout)

with every rate as :meth:`AcquirerBehaviour.conditions` gives it at ``t``. Queueing for
capacity is left out (it is not known ahead of the attempt).
"""

from __future__ import annotations

from mock_acquirers.behaviour import AcquirerBehaviour, latency_cdf
from scenarios.conditions import PaymentAttributes


class BehaviourTruth:
    """The oracle's :class:`~router.engine.oracle.Truth`, read off the behaviour model."""

    def __init__(self, behaviours: list[AcquirerBehaviour], attempt_timeout_ms: float) -> None:
        self._behaviours = {b.name: b for b in behaviours}
        self._timeout_ms = attempt_timeout_ms
        # P(latency * factor <= timeout) per (acquirer, latency factor): few distinct factors
        self._in_time: dict[tuple[str, float], float] = {}

    def approval(self, payment: PaymentAttributes, acquirer: str, now: float) -> float:
        behaviour = self._behaviours[acquirer]
        c = behaviour.conditions(payment, now)
        answered = max(0.0, 1.0 - c.error_rate - c.timeout_rate)
        return answered * c.approval * self.in_time(acquirer, c.latency_factor)

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
