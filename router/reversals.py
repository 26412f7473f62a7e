"""Settling unknown outcomes over HTTP: the router's side of voids and status inquiries.

After a timeout or a broken answer the acquirer may have approved. What to do about it
(void first, ask the status when the void reverses nothing, void again when the status
shows an approval, cascade only once settled) is the payment's
:class:`router.engine.flow.PaymentFlow`'s decision; this module carries out its
``VOID`` and ``INQUIRE`` actions through the acquirer's connector, during the payment
(:func:`carry_out`) and, for an attempt the payment had to leave unsettled, in the
background (:class:`LateReversals`), so an approval that lands later is reversed rather
than left charging the card.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from router.connectors import AttemptStatus, Connector, VoidResult
from router.engine.flow import (
    FINISH,
    NOT_VOIDED,
    NOTHING_APPROVED,
    STATUS_APPROVED,
    STATUS_UNKNOWN,
    VOID,
    VOID_FAILED,
    VOIDED,
    PaymentFlow,
)
from router.metrics import RouterMetrics
from router.payment_journal import STATUS_RESULT_NAMES, VOID_RESULT_NAMES, PaymentJournal
from router.records import AttemptRecord

log = logging.getLogger("router.reversals")

UNCONFIRMED = "unconfirmed"  # an attempt that may still hold an approval the router has not voided

_VOID_RESULTS = {
    VoidResult.VOIDED: VOIDED,
    VoidResult.NOT_VOIDED: NOT_VOIDED,
    VoidResult.UNKNOWN: VOID_FAILED,
}


def _status_result(status: AttemptStatus) -> int:
    if status.nothing_approved:
        return NOTHING_APPROVED
    if status is AttemptStatus.APPROVED:
        return STATUS_APPROVED
    return STATUS_UNKNOWN


async def carry_out(
    action: int,
    flow: PaymentFlow,
    connector: Connector,
    attempt: AttemptRecord,
    metrics: RouterMetrics,
    now: Callable[[], float],
    journal: PaymentJournal | None = None,
    payment_id: str = "",
) -> int:
    """Perform the flow's ``VOID`` or ``INQUIRE`` action; returns the flow's next action.

    ``now`` gives the engine's time (seconds); the attempt record notes how it was
    settled (``voided`` or ``nothing_approved``), and the journal, when there is one,
    records every result.
    """
    timeout_s = flow.timeout_ms / 1000.0
    if action == VOID:
        voided = _VOID_RESULTS[await connector.void(attempt.key, timeout_s)]
        if voided == VOIDED:
            attempt.void = "voided"
            metrics.void(connector.acquirer, attempt.void)
        if journal is not None:
            journal.settled(payment_id, attempt, VOID_RESULT_NAMES[voided])
        return flow.on_void_result(voided, now())
    status = _status_result(await connector.status(attempt.key, timeout_s))
    if status == NOTHING_APPROVED:
        attempt.void = "nothing_approved"
        metrics.void(connector.acquirer, attempt.void)
    if journal is not None:
        journal.settled(payment_id, attempt, STATUS_RESULT_NAMES[status])
    return flow.on_status(status, now())


class LateReversals:
    """Background follow-up of attempts a payment had to leave unsettled."""

    def __init__(
        self,
        metrics: RouterMetrics,
        horizon_s: float = 120.0,
        first_delay_s: float = 0.5,
        max_delay_s: float = 8.0,
    ) -> None:
        self.metrics = metrics
        self.horizon_s = horizon_s
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.journal: PaymentJournal | None = None  # set when the router keeps one
        self._tasks: set[asyncio.Task[bool]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def follow(
        self,
        connector: Connector,
        payment_id: str,
        attempt: AttemptRecord,
        flow: PaymentFlow,
        now: Callable[[], float],
        delay_s: float | None = None,
    ) -> asyncio.Task[bool]:
        """Keep settling ``attempt`` (the flow's unsettled one) until it is resolved or
        the horizon passes; the task's result says whether it was resolved."""
        attempt.void = UNCONFIRMED
        self.metrics.void(connector.acquirer, UNCONFIRMED)
        first = self.first_delay_s if delay_s is None else delay_s
        task = asyncio.get_running_loop().create_task(
            self._follow(connector, payment_id, attempt, flow, now, first)
        )
        self._tasks.add(task)
        self.metrics.unresolved.set(len(self._tasks))
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[bool]) -> None:
        self._tasks.discard(task)
        self.metrics.unresolved.set(len(self._tasks))
        if not task.cancelled() and task.exception() is not None:
            log.error("late reversal failed", exc_info=task.exception())

    async def _follow(
        self,
        connector: Connector,
        payment_id: str,
        attempt: AttemptRecord,
        flow: PaymentFlow,
        now: Callable[[], float],
        delay_s: float,
    ) -> bool:
        deadline = time.monotonic() + self.horizon_s
        fields = {"payment_id": payment_id, "acquirer": connector.acquirer, "key": attempt.key}
        journal = self.journal
        while True:
            await asyncio.sleep(delay_s)
            action = flow.resettle(now())
            while action != FINISH:
                action = await carry_out(
                    action, flow, connector, attempt, self.metrics, now, journal, payment_id
                )
            if not flow.unsettled:
                attempt.void = f"late_{attempt.void}"
                self.metrics.void(connector.acquirer, attempt.void)
                log.info(
                    "uncertain attempt settled",
                    extra={"fields": {**fields, "result": attempt.void}},
                )
                return True
            attempt.void = UNCONFIRMED
            if time.monotonic() >= deadline:
                self.metrics.void(connector.acquirer, "abandoned")
                if journal is not None:  # left open there: the next start tries again
                    journal.unresolved(payment_id, attempt)
                log.warning(
                    "uncertain attempt still unresolved; reconcile against the acquirer's ledger",
                    extra={"fields": fields},
                )
                return False
            delay_s = min(max(delay_s * 2.0, self.first_delay_s), self.max_delay_s)

    async def close(self, grace_s: float = 0.0) -> None:
        """Stop following (after ``grace_s`` for checks already due); log what is left."""
        if self._tasks and grace_s > 0.0:
            await asyncio.wait(set(self._tasks), timeout=grace_s)
        left = list(self._tasks)
        for task in left:
            task.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
            log.warning(
                "shutting down with unresolved attempts", extra={"fields": {"count": len(left)}}
            )
