"""The retry/cascade policy: whether a failed attempt may go on to another acquirer.

:class:`RetryRules` is a scenario's ``RetryPolicy`` read once into plain numbers, for
the per-attempt path of :class:`router.engine.flow.PaymentFlow`.
"""

from __future__ import annotations

from scenarios.schema import RetryPolicy
from scenarios.taxonomy import CodeInfo, OutcomeClass


class RetryRules:
    """When a payment may cascade, and how long each step may take (ms)."""

    __slots__ = (
        "attempt_timeout_ms",
        "budget_ms",
        "cascade_on",
        "max_attempts",
        "status_timeout_ms",
        "void_timeout_ms",
        "voids_first",
    )

    def __init__(self, retry: RetryPolicy) -> None:
        self.max_attempts: int = retry.max_attempts
        self.attempt_timeout_ms: float = retry.attempt_timeout_ms
        self.budget_ms: float = retry.budget_ms
        self.cascade_on: frozenset[str] = frozenset(retry.cascade_on)
        # an unknown outcome is voided and settled before anything else is tried
        self.voids_first: bool = retry.on_timeout == "void_then_cascade"
        self.void_timeout_ms: float = retry.void_timeout_ms
        self.status_timeout_ms: float = retry.status_timeout_ms

    def may_cascade(self, info: CodeInfo, attempts_made: int, elapsed_ms: float) -> bool:
        """True when the payment may be tried again on another acquirer.

        Never after an approval or a hard decline; soft declines only when the code says
        another acquirer can help (05 yes, 51 "retry later" no); timeouts only when the
        policy voids first; never past ``max_attempts`` or the latency budget.
        """
        outcome = info.outcome
        if outcome is OutcomeClass.APPROVED or outcome is OutcomeClass.HARD_DECLINE:
            return False
        if attempts_made >= self.max_attempts or elapsed_ms >= self.budget_ms:
            return False
        if outcome.value not in self.cascade_on:
            return False
        if outcome is OutcomeClass.TIMEOUT:
            return self.voids_first
        return info.cascadable

    def timeout_ms(self, elapsed_ms: float) -> float:
        """How long the next attempt may take: its own timeout, cut to what the budget leaves."""
        return max(0.0, min(self.attempt_timeout_ms, self.budget_ms - elapsed_ms))


def may_cascade(retry: RetryPolicy, info: CodeInfo, attempts_made: int, elapsed_ms: float) -> bool:
    """:meth:`RetryRules.may_cascade` for a scenario's retry policy."""
    return RetryRules(retry).may_cascade(info, attempts_made, elapsed_ms)


def attempt_timeout_ms(retry: RetryPolicy, elapsed_ms: float) -> float:
    """:meth:`RetryRules.timeout_ms` for a scenario's retry policy."""
    return RetryRules(retry).timeout_ms(elapsed_ms)
