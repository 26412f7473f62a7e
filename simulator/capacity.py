"""An acquirer's concurrency limit: c parallel slots with a FIFO queue in front.

The simulator knows how long an attempt will occupy a slot when it arrives, so the
start of service follows directly from when the earliest slot frees up (the
Kiefer-Wolfowitz recursion for FIFO multi-server queues): no queue of waiting
processes, no extra events. An acquirer keeps working on a request after the router
has given up on it, as real ones do, so a timed-out attempt holds its slot to the end.
"""

from __future__ import annotations

from collections import deque
from heapq import heapreplace


class CapacityQueue:
    """FIFO queue in front of ``capacity`` parallel slots."""

    __slots__ = ("_slots", "_starts", "admitted", "capacity", "count_from", "total_wait_s")

    def __init__(self, capacity: int, count_from: float = 0.0) -> None:
        self.capacity = capacity
        self.count_from = count_from  # waits are counted from here on (the end of warm-up)
        self._slots = [0.0] * capacity  # min-heap: when each slot next becomes free
        # service start times in admission order: non-decreasing, because FIFO
        self._starts: deque[float] = deque()
        self.admitted = 0
        self.total_wait_s = 0.0

    def admit(self, now: float, service_s: float) -> float:
        """Admit a request arriving at ``now``; returns when its service starts.

        Calls must come in non-decreasing ``now`` order (the simulation clock).
        """
        free_at = self._slots[0]
        start = free_at if free_at > now else now
        finish = start + service_s
        heapreplace(self._slots, finish)
        if start > now:  # it waits: remember until when, to count the queue on demand
            starts = self._starts
            while starts and starts[0] <= now:
                starts.popleft()
            starts.append(start)
        if now >= self.count_from:
            self.admitted += 1
            self.total_wait_s += start - now
        return start

    def in_system(self, now: float) -> int:
        """Requests queued or in service at ``now`` (O(capacity): for probes, not hot paths)."""
        busy = sum(1 for free_at in self._slots if free_at > now)
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
