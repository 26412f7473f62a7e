"""A live run's plan: the scenario and options turned into timeline, warm-up, buckets, seeds.

The locustfile builds it in every Locust process and ``routelab loadtest`` builds the
same one from the same inputs, so the generator and the report agree on every number
(how long, how fast, what counts as warm-up, which bucket a payment falls in).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loadtests.arrivals import ArrivalSchedule, Timeline, expected_payments, stream_seed
from loadtests.options import HarnessOptions, OptionError
from loadtests.payer import CardPayments
from scenarios.schema import Scenario
from scenarios.streams import UniformStream

MIN_BUCKETS = 10  # a time series needs a few points even in a short run
TIMEOUT_MARGIN_S = 5.0  # beyond the retry budget: a void and the way back


@dataclass(frozen=True)
class RunPlan:
    """Everything a live run derives from its scenario and options."""

    scenario: Scenario
    options: HarnessOptions
    timeline: Timeline
    warmup_s: float  # wall seconds at the start left out of the figures
    bucket_s: float  # wall seconds per time-series bucket
    seed: int
    request_timeout_s: float

    @classmethod
    def build(cls, scenario: Scenario, options: HarnessOptions) -> RunPlan:
        """Raises :class:`OptionError` when the options do not fit the scenario."""
        traffic = scenario.traffic
        try:
            timeline = Timeline.plan(traffic.duration_s, options.duration_s, options.truncate)
        except ValueError as exc:
            raise OptionError(str(exc)) from None
        k = timeline.compression
        warmup = scenario.warmup_s / k if options.warmup_s is None else options.warmup_s
        if warmup >= timeline.wall_duration_s:
            raise OptionError(
                f"a warm-up of {warmup:g} s leaves nothing of a {timeline.wall_duration_s:g} s "
                f"run (scenario warm-up {scenario.warmup_s:g} s); pass --warmup with less"
            )
        bucket = min(scenario.bucket_s / k, timeline.wall_duration_s / MIN_BUCKETS)
        budget_ms = max(p.retry.budget_ms for p in scenario.policies)
        timeout = options.request_timeout_s or budget_ms / 1000.0 + TIMEOUT_MARGIN_S
        seed = scenario.seed if options.seed is None else options.seed
        return cls(scenario, options, timeline, warmup, bucket, seed, timeout)

    @property
    def duration_s(self) -> float:
        return self.timeline.wall_duration_s

    @property
    def measured_s(self) -> float:
        """Wall seconds whose payments count in the figures."""
        return self.timeline.wall_duration_s - self.warmup_s

    @property
    def open_model(self) -> bool:
        return self.options.model == "open"

    def expected_payments(self, after_warmup: bool = False) -> float:
        """Expected arrivals of the open model over the run (or after the warm-up)."""
        return expected_payments(
            self.scenario.traffic.arrival,
            self.timeline,
            self.options.rate_scale,
            self.warmup_s if after_warmup else 0.0,
        )

    def _seeds(self, worker_index: int, local_index: int) -> list[np.random.SeedSequence]:
        # [arrivals, payments, think times]: separate, so the payments a stream sends do
        # not depend on its rate or model
        return stream_seed(self.seed, worker_index, local_index).spawn(3)

    def schedule(self, streams: int, worker_index: int, local_index: int) -> ArrivalSchedule:
        """The arrival schedule of stream ``(worker_index, local_index)`` of ``streams``."""
        return ArrivalSchedule(
            self.scenario.traffic.arrival,
            self.timeline,
            self.options.rate_scale,
            streams,
            self._seeds(worker_index, local_index)[0],
        )

    def payments(self, run_id: str, worker_index: int, local_index: int) -> CardPayments:
        """The payments of stream ``(worker_index, local_index)``."""
        return CardPayments(
            self.scenario.traffic,
            self.scenario.merchant.country,
            self._seeds(worker_index, local_index)[1],
            run_id,
            worker_index,
            local_index,
        )

    def think_times(self, worker_index: int, local_index: int) -> UniformStream:
        """Uniforms for the closed model's think times of stream ``(worker, user)``."""
        seed = self._seeds(worker_index, local_index)[2]
        return UniformStream(np.random.Generator(np.random.PCG64(seed)))
