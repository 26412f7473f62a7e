"""Open-model arrivals for the live harness: the scenario's Poisson process on the wall clock.

A scenario's arrival profile lives on its own timeline ``[0, D)``. A live run lasts
``S`` wall seconds and either compresses the whole timeline into them (scenario time
``τ = k·t`` with ``k = D / S``: a spike at minute 10 of 30 comes a third of the way
in, and the mock acquirers run their incidents ``k`` times faster to match) or plays
the first ``S`` seconds in real time (``truncate``, ``k = 1``). ``rate_scale`` ``s``
multiplies the rate, and the rate is shared by ``n`` independent streams (one per
Locust worker process), so the wall-clock intensity of one stream is
``s / n · λ(k·t)``.

The points come from the ONE arrival sampler, :func:`scenarios.sampler.arrival_times`,
which draws scenario-time arrivals at ``λ(τ)``. Mapped to wall time (``t = τ / k``)
their intensity is ``k·λ(k·t)``, so each is kept with probability ``c = s / (n·k)``:
independent thinning of a Poisson process is a Poisson process. When ``c > 1`` (a run
slower or busier than the scenario), ``m = ⌈c⌉`` independent sampler streams are
superposed, each thinned with ``c / m``. The sum of the ``n`` streams is then Poisson
at the full rate, as the superposition of independent Poisson processes.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from scenarios.sampler import arrival_rate, arrival_times
from scenarios.schema import ArrivalProfile

BATCH = 1024  # candidate arrivals per draw: small, so a stream starts without delay


@dataclass(frozen=True)
class Timeline:
    """How a run's wall-clock seconds map onto the scenario's timeline."""

    scenario_duration_s: float  # D: the scenario's traffic.duration_s
    wall_duration_s: float  # S: seconds of traffic in the run
    truncate: bool = False

    def __post_init__(self) -> None:
        if not self.wall_duration_s > 0.0:
            raise ValueError(f"the run needs a positive duration, got {self.wall_duration_s:g}")
        if self.truncate and self.wall_duration_s > self.scenario_duration_s:
            raise ValueError(
                f"cannot truncate to {self.wall_duration_s:g} s: the scenario's timeline is "
                f"only {self.scenario_duration_s:g} s long (drop --truncate to stretch it)"
            )

    @classmethod
    def plan(
        cls, scenario_duration_s: float, duration_s: float | None, truncate: bool = False
    ) -> Timeline:
        """The whole timeline in real time unless a duration is given."""
        return cls(scenario_duration_s, duration_s or scenario_duration_s, truncate)

    @property
    def compression(self) -> float:
        """Scenario seconds per wall second (``k``)."""
        return 1.0 if self.truncate else self.scenario_duration_s / self.wall_duration_s

    @property
    def scenario_span_s(self) -> float:
        """How much of the scenario's timeline the run covers."""
        return self.wall_duration_s * self.compression

    def scenario_time(self, wall_s: float) -> float:
        return wall_s * self.compression


def offered_rate(
    profile: ArrivalProfile, timeline: Timeline, rate_scale: float, wall_s: np.ndarray
) -> np.ndarray:
    """Total offered rate (payments per wall second) at wall times ``wall_s``."""
    tau = np.asarray(wall_s, dtype=float) * timeline.compression
    return rate_scale * arrival_rate(profile, tau, timeline.scenario_duration_s)


def expected_payments(
    profile: ArrivalProfile, timeline: Timeline, rate_scale: float, start_s: float = 0.0
) -> float:
    """Expected number of arrivals over wall seconds ``[start_s, S)`` (trapezoid rule)."""
    if start_s >= timeline.wall_duration_s:
        return 0.0
    grid = np.linspace(start_s, timeline.wall_duration_s, 20_001)
    rates = offered_rate(profile, timeline, rate_scale, grid)
    return float(np.sum((rates[1:] + rates[:-1]) * 0.5 * np.diff(grid)))


def stream_seed(seed: int, worker_index: int, local_index: int = 0) -> np.random.SeedSequence:
    """The seed of arrival stream ``(worker, user)``: child ``[worker][user]`` of ``seed``.

    Equal to ``SeedSequence(seed).spawn(...)[worker_index].spawn(...)[local_index]``, so
    streams are independent of each other and reproducible without knowing how many
    workers there are.
    """
    if worker_index < 0 or local_index < 0:
        raise ValueError("stream indices must not be negative")
    return np.random.SeedSequence(seed, spawn_key=(worker_index, local_index))


class ArrivalSchedule:
    """Intended send times of one stream, in wall seconds from the stream's start."""

    def __init__(
        self,
        profile: ArrivalProfile,
        timeline: Timeline,
        rate_scale: float,
        streams: int,
        seed: np.random.SeedSequence,
    ) -> None:
        if streams < 1:
            raise ValueError(f"need at least one stream, got {streams}")
        if not rate_scale > 0.0:
            raise ValueError(f"rate_scale must be positive, got {rate_scale:g}")
        self.profile = profile
        self.timeline = timeline
        self.keep = rate_scale / (streams * timeline.compression)  # c
        self.superposed = max(1, math.ceil(self.keep))  # m
        self._seeds = seed.spawn(self.superposed)

    def __iter__(self) -> Iterator[float]:
        streams = [self._points(s) for s in self._seeds]
        return streams[0] if len(streams) == 1 else heapq.merge(*streams)

    def _points(self, seed: np.random.SeedSequence) -> Iterator[float]:
        for batch in self._thinned(seed):
            yield from batch.tolist()

    def _thinned(self, seed: np.random.SeedSequence) -> Iterator[np.ndarray]:
        arrivals_seed, thinning_seed = seed.spawn(2)
        arrivals = np.random.Generator(np.random.PCG64(arrivals_seed))
        thinning = np.random.Generator(np.random.PCG64(thinning_seed))
        keep = self.keep / self.superposed
        k = self.timeline.compression
        horizon = self.timeline.scenario_span_s
        for candidates in arrival_times(
            self.profile, self.timeline.scenario_duration_s, arrivals, batch=BATCH
        ):
            # the horizon is checked before thinning: a truncated run must not draw the
            # rest of a long timeline just to throw it away
            last = bool(candidates[-1] >= horizon)
            tau = candidates[candidates < horizon] if last else candidates
            if keep < 1.0:
                tau = tau[thinning.random(tau.size) < keep]
            if tau.size:
                yield tau / k
            if last:
                return
