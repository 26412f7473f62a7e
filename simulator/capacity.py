"""An acquirer's concurrency limit: c parallel slots with a FIFO queue in front.

The simulator knows how long an attempt will occupy a slot when it arrives, so the
start of service follows directly from when the earliest slot frees up (the
Kiefer-Wolfowitz recursion for FIFO multi-server queues): no queue of waiting
processes, no extra events. An acquirer keeps working on a request after the router
has given up on it, as real ones do, so a timed-out attempt holds its slot to the end.
"""

from __future__ import annotations

from heapq import heappop, heappush, heapreplace


class CapacityQueue:
    """FIFO queue in front of ``capacity`` parallel slots."""

    __slots__ = ("_finishes", "_slots", "admitted", "capacity", "total_wait_s")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._slots = [0.0] * capacity  # min-heap: when each slot next becomes free
        self._finishes: list[float] = []  # min-heap: finish times of requests in the system
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
        finishes = self._finishes
        while finishes and finishes[0] <= now:  # amortised: each finish is popped once
            heappop(finishes)
        heappush(finishes, finish)
        self.admitted += 1
        self.total_wait_s += start - now
        return start

    def in_system(self, now: float) -> int:
        """Requests queued or in service at ``now``."""
        finishes = self._finishes
        while finishes and finishes[0] <= now:
            heappop(finishes)
        return len(finishes)

    def queued(self, now: float) -> int:
        """Requests waiting for a slot at ``now``."""
        return max(0, self.in_system(now) - self.capacity)

    @property
    def mean_wait_s(self) -> float:
        return self.total_wait_s / self.admitted if self.admitted else 0.0
