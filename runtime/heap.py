"""Keeping garbage-collection pauses short while a service holds many payments.

The router keeps a record of every payment (for idempotency, GET /v1/payments/{id}
and reconciliation), a mock acquirer every attempt and its ledger. CPython's full
collections scan every tracked object, so with hundreds of thousands of records each
one pauses the event loop for tens of milliseconds, and the pauses grow with the
records: they dominate a service's p99.

Objects that have survived a while are long-lived records: ``gc.freeze()`` moves
them out of the collector's sight, so collections only scan young objects. A frozen
object is still freed by reference counting when its record is evicted; only cyclic
garbage frozen by chance is not, so every ``reclaim_s`` the heap is unfrozen and
collected once (one longer pause, rarely) to bound that.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger("routelab.heap")


class FrozenHeap:
    """Periodically freezes surviving objects; now and then reclaims frozen garbage."""

    def __init__(self, freeze_s: float = 2.0, reclaim_s: float = 600.0) -> None:
        self.freeze_s = freeze_s
        self.reclaim_s = reclaim_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        gc.freeze()  # everything loaded at start-up lives as long as the process
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        """Stop freezing; what is frozen goes back in the collector's sight."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
            gc.unfreeze()

    async def _run(self) -> None:
        last_reclaim = time.monotonic()
        while True:
            await asyncio.sleep(self.freeze_s)
            if time.monotonic() - last_reclaim >= self.reclaim_s:
                gc.unfreeze()
                started = time.perf_counter()
                freed = gc.collect()
                log.info(
                    "reclaimed frozen garbage",
                    extra={
                        "fields": {"objects": freed, "ms": 1000 * (time.perf_counter() - started)}
                    },
                )
                last_reclaim = time.monotonic()
            gc.freeze()
