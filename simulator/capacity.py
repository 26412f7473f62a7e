"""An acquirer's concurrency limit: c parallel slots with a FIFO queue in front.

The simulator knows how long an attempt will occupy a slot when it arrives, so the
start of service follows directly from when the earliest slot frees up (the
Kiefer-Wolfowitz recursion for FIFO multi-server queues): no queue of waiting
processes, no extra events. An acquirer keeps working on a request after the router
has given up on it, as real ones do, so a timed-out attempt holds its slot to the end.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush, heapreplace


class CapacityQueue:
    """FIFO queue in front of ``capacity`` parallel slots."""

    __slots__ = ("_busy", "_starts", "admitted", "capacity", "count_from", "total_wait_s")

    def __init__(self, capacity: int, count_from: float = 0.0) -> None:
        self.capacity = capacity
        self.count_from = count_from  # waits are counted from here on (the end of warm-up)
        # min-heap: when each slot in use becomes free; a slot free by now is dropped
        # (any free slot is as good as another), so the heap holds only slots in use
        self._busy: list[float] = []
        # service start times in admission order: non-decreasing, because FIFO
        self._starts: deque[float] = deque()
        self.admitted = 0
        self.total_wait_s = 0.0

    def admit(self, now: float, service_s: float) -> float:
        """Admit a request arriving at ``now``; returns when its service starts.

        Calls must come in non-decreasing ``now`` order (the simulation clock).
        """
        busy = self._busy
        while busy and busy[0] <= now:
            heappop(busy)
        if len(busy) < self.capacity:
            start = now  # a slot is free
            heappush(busy, now + service_s)
        else:  # every slot in use: wait for the one that frees up first
            start = busy[0]
            heapreplace(busy, start + service_s)
            starts = self._starts  # remember until when it waits, to count the queue
            while starts and starts[0] <= now:
                starts.popleft()
            starts.append(start)
        if now >= self.count_from:
            self.admitted += 1
            self.total_wait_s += start - now
        return start

    def in_system(self, now: float) -> int:
        """Requests queued or in service at ``now`` (O(capacity): for probes, not hot paths)."""
        busy = sum(1 for free_at in self._busy if free_at > now)
        return busy + self.queued(now)

    def queued(self, now: float) -> int:
        """Requests waiting for a slot at ``now``."""
        starts = self._starts
        while starts and starts[0] <= now:
            starts.popleft()
        return len(starts)

    @property
    def mean_wait_s(self) -> float:
        """Mean wait for a slot of requests admitted since ``count_from``."""
        return self.total_wait_s / self.admitted if self.admitted else 0.0
