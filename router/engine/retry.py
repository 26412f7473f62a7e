"""The retry/cascade policy: whether a failed attempt may go on to another acquirer."""

from __future__ import annotations

from scenarios.schema import RetryPolicy
from scenarios.taxonomy import CodeInfo, OutcomeClass


def may_cascade(retry: RetryPolicy, info: CodeInfo, attempts_made: int, elapsed_ms: float) -> bool:
    """True when the payment may be tried again on another acquirer.

    Never after an approval or a hard decline; soft declines only when the code says
    another acquirer can help (05 yes, 51 "retry later" no); timeouts only when the
    policy voids first; never past ``max_attempts`` or the latency budget.
    """
    outcome = info.outcome
    if outcome is OutcomeClass.APPROVED or outcome is OutcomeClass.HARD_DECLINE:
        return False
    if attempts_made >= retry.max_attempts or elapsed_ms >= retry.budget_ms:
        return False
    if outcome.value not in retry.cascade_on:
        return False
    if outcome is OutcomeClass.TIMEOUT:
        return retry.on_timeout == "void_then_cascade"
    return info.cascadable


def attempt_timeout_ms(retry: RetryPolicy, elapsed_ms: float) -> float:
    """How long the next attempt may take: its own timeout, cut to what the budget leaves."""
    return max(0.0, min(retry.attempt_timeout_ms, retry.budget_ms - elapsed_ms))
