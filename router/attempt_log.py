"""The routing service's attempt log: one row per attempt, written off the request path.

The rows are those the simulator writes (results/attempt_log.py holds the schema and the
writer): the time the attempt was sent (seconds since the router started), the payment
and its attributes, the rule, the candidates in order, the chosen acquirer with the
probability the strategy chose it (first attempts), the outcome, raw and normalised
code, latency, fee and the payment's final status. A finished payment's rows are
appended on the event loop (a few list appends); a background task hands full row
groups to a worker thread for Parquet encoding and disk. The buffer is bounded: when
the disk cannot keep up, rows are dropped and counted (``dropped``, and the router's
``/metrics``), a payment is never blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from results.attempt_log import AttemptLogWriter
from router.engine.flow import PaymentFlow
from router.payment_request import CardPayment
from router.records import AttemptRecord
from scenarios.schema import FeeSchedule

log = logging.getLogger("router.attempt_log")

FLUSH_EVERY_S = 1.0


class RouterAttemptLog:
    """Buffered attempt rows of one router process, flushed by a background task."""

    def __init__(
        self, path: str | Path, fees: FeeSchedule, *, row_group_rows: int = 16_384
    ) -> None:
        self.writer = AttemptLogWriter(
            Path(path), engine="live", row_group_rows=row_group_rows, auto_flush=False
        )
        self.fees = fees
        self._task: asyncio.Task[None] | None = None
        self._flushing = False

    @property
    def dropped(self) -> int:
        return self.writer.dropped

    def payment(
        self, payment: CardPayment, flow: PaymentFlow, attempts: list[AttemptRecord]
    ) -> None:
        """Append a finished payment's attempts (cheap: no I/O on the event loop)."""
        writer = self.writer
        fees = self.fees
        network, amount = payment.network, payment.amount
        writer.append_payment(
            payment.payment_id,
            payment,
            flow.decision,
            flow.status,
            [
                (
                    a.sent_s,
                    a.acquirer,
                    a.outcome,
                    a.raw_code,
                    a.code,
                    a.latency_ms,
                    fees.charge(a.acquirer, network, amount, a.outcome == "approved"),
                )
                for a in attempts
            ],
        )
        if writer.pending >= writer.row_group_rows and not self._flushing:
            self._flush_soon()

    def _flush_soon(self) -> None:
        self._flushing = True
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self.writer.flush)
        future.add_done_callback(self._flushed)

    def _flushed(self, future: asyncio.Future[int]) -> None:
        self._flushing = False
        if not future.cancelled() and future.exception() is not None:
            log.error("attempt log flush failed", exc_info=future.exception())

    def start(self) -> None:
        """Flush at least every second, so a quiet router's log is never far behind."""
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            if self.writer.pending and not self._flushing:
                self._flush_soon()

    async def close(self) -> None:
        """Write what is buffered and close the file (off the event loop)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.writer.close)
        if self.writer.dropped:
            log.warning(
                "attempt log dropped rows (the disk did not keep up)",
                extra={"fields": {"dropped": self.writer.dropped}},
            )
