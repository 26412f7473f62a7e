"""Settling unknown outcomes: void an attempt, or prove it holds no approval.

After a timeout or a broken answer the acquirer may have approved. Before the router
tries another acquirer it voids the attempt (ISO reversal by rrn, PSP cancel by key)
and, when the void reverses nothing, asks for the attempt's status: only a confirmed
void or a status showing nothing approved lets the payment go elsewhere. When neither
can be confirmed (the acquirer is still "processing" a hung request, or does not
answer) the payment stops, and :class:`LateReversals` keeps checking in the background
so an approval that lands later is reversed rather than left charging the card.
"""

from __future__ import annotations

import asyncio
import logging
import time
from enum import StrEnum

from router.connectors import AttemptStatus, Connector, VoidResult
from router.metrics import RouterMetrics
from router.records import AttemptRecord

log = logging.getLogger("router.reversals")


class Settlement(StrEnum):
    """How an uncertain attempt ended up."""

    VOIDED = "voided"  # it had been approved and is now reversed
    NOTHING_APPROVED = "nothing_approved"  # the acquirer shows no approval under its key
    UNCONFIRMED = "unconfirmed"  # could not tell: never cascade on this

    @property
    def safe_to_cascade(self) -> bool:
        return self is not Settlement.UNCONFIRMED


async def settle(connector: Connector, key: str, timeout_s: float) -> Settlement:
    """Void the attempt under ``key`` or confirm it holds no approval."""
    if await connector.void(key, timeout_s) is VoidResult.VOIDED:
        return Settlement.VOIDED
    status = await connector.status(key, timeout_s)
    if status.nothing_approved:
        return Settlement.NOTHING_APPROVED
    # approved although the void reversed nothing: the approval landed in between
    if status is AttemptStatus.APPROVED and (
        await connector.void(key, timeout_s) is VoidResult.VOIDED
    ):
        return Settlement.VOIDED
    return Settlement.UNCONFIRMED


class LateReversals:
    """Background follow-up of attempts whose outcome could not be confirmed in time."""

    def __init__(
        self,
        metrics: RouterMetrics,
        horizon_s: float = 120.0,
        first_delay_s: float = 0.5,
        max_delay_s: float = 8.0,
        timeout_s: float = 2.0,
    ) -> None:
        self.metrics = metrics
        self.horizon_s = horizon_s
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.timeout_s = timeout_s
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def follow(
        self,
        connector: Connector,
        payment_id: str,
        attempt: AttemptRecord,
        delay_s: float | None = None,
    ) -> None:
        """Keep settling ``attempt`` until it is resolved or the horizon passes."""
        attempt.void = Settlement.UNCONFIRMED.value
        first = self.first_delay_s if delay_s is None else delay_s
        task = asyncio.get_running_loop().create_task(
            self._follow(connector, payment_id, attempt, first)
        )
        self._tasks.add(task)
        self.metrics.unresolved.set(len(self._tasks))
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.metrics.unresolved.set(len(self._tasks))
        if not task.cancelled() and task.exception() is not None:
            log.error("late reversal failed", exc_info=task.exception())

    async def _follow(
        self, connector: Connector, payment_id: str, attempt: AttemptRecord, delay_s: float
    ) -> None:
        deadline = time.monotonic() + self.horizon_s
        while True:
            await asyncio.sleep(delay_s)
            result = await settle(connector, attempt.key, self.timeout_s)
            if result.safe_to_cascade:
                attempt.void = f"late_{result.value}"
                self.metrics.void(connector.acquirer, attempt.void)
                log.info(
                    "uncertain attempt settled",
                    extra={
                        "fields": {
                            "payment_id": payment_id,
                            "acquirer": connector.acquirer,
                            "key": attempt.key,
                            "result": attempt.void,
                        }
                    },
                )
                return
            if time.monotonic() >= deadline:
                self.metrics.void(connector.acquirer, "abandoned")
                log.warning(
                    "uncertain attempt still unresolved; reconcile against the acquirer's ledger",
                    extra={
                        "fields": {
                            "payment_id": payment_id,
                            "acquirer": connector.acquirer,
                            "key": attempt.key,
                        }
                    },
                )
                return
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
