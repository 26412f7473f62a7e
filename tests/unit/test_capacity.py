"""The acquirer concurrency limit: a FIFO queue in front of c parallel slots."""

from __future__ import annotations

import heapq
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.capacity import CapacityQueue


def test_single_slot_reproduces_a_hand_computed_fifo_schedule() -> None:
    queue = CapacityQueue(1)
    assert queue.mean_wait_s == 0.0  # nothing admitted yet
    # arrival, service -> start: 0 -> 0, 1 waits for 2, 1.5 waits for 5, 7 finds it idle,
    # 7.5 waits for the 7 arrival to finish at 8
    assert queue.admit(0.0, 2.0) == 0.0
    assert queue.admit(1.0, 3.0) == 2.0
    assert queue.admit(1.5, 1.0) == 5.0
    assert queue.in_system(1.5) == 3
    assert queue.queued(1.5) == 2
    assert queue.in_system(4.0) == 2 and queue.queued(4.0) == 1
    assert queue.admit(7.0, 1.0) == 7.0
    assert queue.in_system(7.0) == 1 and queue.queued(7.0) == 0
    assert queue.admit(7.5, 2.0) == 8.0
    assert queue.in_system(7.5) == 2 and queue.queued(7.5) == 1
    assert queue.in_system(10.0) == 0 and queue.queued(10.0) == 0
    assert queue.admitted == 5
    assert queue.total_wait_s == pytest.approx(0 + 1 + 3.5 + 0 + 0.5)
    assert queue.mean_wait_s == pytest.approx(1.0)


def test_a_slot_freed_at_the_arrival_instant_is_taken_at_once() -> None:
    queue = CapacityQueue(2)
    assert queue.admit(0.0, 1.0) == 0.0
    assert queue.admit(0.0, 3.0) == 0.0
    assert queue.admit(0.5, 1.0) == 1.0  # both busy: waits for the first to finish
    assert queue.admit(2.0, 1.0) == 2.0  # the slot freed exactly at 2.0
    assert queue.in_system(2.0) == 2  # finishes at 3.0 and 3.0; those done by 2.0 left


def brute_force(capacity: int, jobs: list[tuple[float, float]]) -> list[float]:
    """Start times from an explicit event simulation: slots, a FIFO line, departures first."""
    starts = [0.0] * len(jobs)
    busy: list[float] = []  # finish times of requests in service
    line: deque[int] = deque()
    i = 0
    while i < len(jobs) or line:
        next_arrival = jobs[i][0] if i < len(jobs) else float("inf")
        if busy and busy[0] <= next_arrival:
            now = heapq.heappop(busy)
            if line:
                j = line.popleft()
                starts[j] = now
                heapq.heappush(busy, now + jobs[j][1])
            continue
        now, service = jobs[i]
        if len(busy) < capacity:
            starts[i] = now
            heapq.heappush(busy, now + service)
        else:
            line.append(i)
        i += 1
    return starts


# times on a half-second grid so arrivals and departures coincide often (exact in floats)
jobs_strategy = st.lists(
    st.tuples(st.integers(0, 40).map(lambda k: k / 2), st.integers(1, 12).map(lambda k: k / 2)),
    min_size=1,
    max_size=60,
).map(sorted)


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 4), jobs=jobs_strategy)
def test_matches_a_brute_force_event_simulation(
    capacity: int, jobs: list[tuple[float, float]]
) -> None:
    queue = CapacityQueue(capacity)
    starts = []
    for i, (now, service) in enumerate(jobs):
        start = queue.admit(now, service)
        starts.append(start)
        finishes = [s + d for s, (_, d) in zip(starts, jobs[: i + 1], strict=True)]
        in_system = sum(f > now for f in finishes)
        waiting = sum(s > now for s in starts)
        assert queue.in_system(now) == in_system
        assert queue.queued(now) == waiting
    assert starts == brute_force(capacity, jobs)
    # never more than c in service at once: sweep every start and finish
    events = sorted(
        [(s, 1) for s in starts] + [(s + d, -1) for s, (_, d) in zip(starts, jobs, strict=True)],
        key=lambda e: (e[0], e[1]),
    )  # a finish at t frees its slot before a start
    in_service = 0
    for _, step in events:
        in_service += step
        assert 0 <= in_service <= capacity
    # FIFO: requests start in arrival order, never before they arrive
    assert starts == sorted(starts)
    assert all(s >= a for s, (a, _) in zip(starts, jobs, strict=True))
    waits = [s - a for s, (a, _) in zip(starts, jobs, strict=True)]
    assert queue.mean_wait_s == pytest.approx(sum(waits) / len(waits))


def test_enough_slots_means_no_waiting() -> None:
    queue = CapacityQueue(50)
    for k in range(50):
        assert queue.admit(k * 0.01, 10.0) == k * 0.01
    assert queue.in_system(0.5) == 50 and queue.queued(0.5) == 0
    assert queue.admit(0.6, 1.0) == pytest.approx(10.0)  # the 51st waits for the first slot
    assert queue.queued(0.6) == 1
    assert queue.total_wait_s == pytest.approx(9.4)
