"""Open-model schedules: Poisson at the scenario's rate, compressed or truncated, split."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from loadtests.arrivals import ArrivalSchedule, Timeline, expected_payments, stream_seed
from scenarios.schema import ConstantArrivals, RampArrivals, SpikeArrivals

CONSTANT = ConstantArrivals(profile="constant", rate_per_s=40.0)


def times(
    profile: object,
    timeline: Timeline,
    rate_scale: float = 1.0,
    streams: int = 1,
    worker: int = 0,
    seed: int = 11,
) -> np.ndarray:
    schedule = ArrivalSchedule(
        profile,
        timeline,
        rate_scale,
        streams,  # type: ignore[arg-type]
        stream_seed(seed, worker),
    )
    return np.fromiter(schedule, dtype=float)


def within(count: int, expected: float, sigmas: float = 4.0) -> bool:
    """A Poisson count within ``sigmas`` standard deviations of its mean."""
    return abs(count - expected) <= sigmas * math.sqrt(expected)


def test_compressed_constant_profile_keeps_its_rate_and_is_poisson() -> None:
    timeline = Timeline.plan(1800.0, 200.0)
    assert timeline.compression == 9.0
    t = times(CONSTANT, timeline)
    assert within(t.size, 40.0 * 200.0)
    assert np.all(np.diff(t) >= 0.0) and t.min() >= 0.0 and t.max() < 200.0
    gaps = np.diff(t)
    # exponential gaps at 40/s: Kolmogorov-Smirnov against the exact distribution
    assert stats.kstest(gaps, "expon", args=(0.0, 1.0 / 40.0)).pvalue > 0.001


def test_rate_scale_multiplies_the_rate() -> None:
    t = times(CONSTANT, Timeline.plan(1800.0, 50.0), rate_scale=2.5)
    assert within(t.size, 100.0 * 50.0)


def test_a_rate_above_the_scenarios_superposes_streams() -> None:
    # truncated (no compression) and 3x: each point kept with c = 3 > 1
    timeline = Timeline.plan(1800.0, 60.0, truncate=True)
    schedule = ArrivalSchedule(CONSTANT, timeline, 3.0, 1, stream_seed(5, 0))
    assert schedule.superposed == 3
    t = np.fromiter(schedule, dtype=float)
    assert within(t.size, 120.0 * 60.0)
    assert np.all(np.diff(t) >= 0.0) and t.max() < 60.0
    assert stats.kstest(np.diff(t), "expon", args=(0.0, 1.0 / 120.0)).pvalue > 0.001


def test_streams_split_the_rate_and_sum_to_it() -> None:
    timeline = Timeline.plan(1800.0, 100.0)
    parts = [times(CONSTANT, timeline, streams=4, worker=w) for w in range(4)]
    for part in parts:
        assert within(part.size, 10.0 * 100.0)
    merged = np.sort(np.concatenate(parts))
    assert within(merged.size, 40.0 * 100.0)
    assert stats.kstest(np.diff(merged), "expon", args=(0.0, 1.0 / 40.0)).pvalue > 0.001
    # independent streams: no two workers send at the same instants
    assert len(set(parts[0].tolist()) & set(parts[1].tolist())) == 0


def test_a_stream_is_reproducible_from_the_seed_and_worker_index() -> None:
    timeline = Timeline.plan(1800.0, 20.0)
    a = times(CONSTANT, timeline, streams=2, worker=1)
    b = times(CONSTANT, timeline, streams=2, worker=1)
    assert np.array_equal(a, b) and a.size
    assert not np.array_equal(a, times(CONSTANT, timeline, streams=2, worker=1, seed=12))


def test_stream_seed_is_the_nested_spawn_of_the_scenario_seed() -> None:
    nested = np.random.SeedSequence(99).spawn(3)[2].spawn(2)[1]
    direct = stream_seed(99, 2, 1)
    assert np.array_equal(nested.generate_state(4), direct.generate_state(4))
    with pytest.raises(ValueError):
        stream_seed(99, -1)


def test_compression_moves_a_spike_to_the_same_fraction_of_the_run() -> None:
    spike = SpikeArrivals(
        profile="spike", base_rate_per_s=20.0, spike_rate_per_s=200.0, start_s=400.0, end_s=600.0
    )
    timeline = Timeline.plan(1000.0, 100.0)  # k = 10: the spike is at 40-60 s of wall time
    t = times(spike, timeline)
    in_spike = ((t >= 40.0) & (t < 60.0)).sum()
    before = (t < 40.0).sum()
    assert within(int(in_spike), 200.0 * 20.0)
    assert within(int(before), 20.0 * 40.0)
    assert expected_payments(spike, timeline, 1.0) == pytest.approx(
        20.0 * 80.0 + 200.0 * 20.0, rel=1e-3
    )


def test_truncate_plays_the_start_of_the_timeline_in_real_time() -> None:
    ramp = RampArrivals(profile="ramp", start_rate_per_s=10.0, end_rate_per_s=110.0)
    timeline = Timeline.plan(1000.0, 100.0, truncate=True)  # covers the first 10 % of the ramp
    assert timeline.compression == 1.0 and timeline.scenario_span_s == 100.0
    t = times(ramp, timeline)
    assert t.max() < 100.0
    expected = expected_payments(ramp, timeline, 1.0)
    assert expected == pytest.approx(100.0 * (10.0 + 20.0) / 2.0, rel=1e-3)  # 10 -> 20/s
    assert within(t.size, expected)


def test_timelines_refuse_what_cannot_be_run() -> None:
    with pytest.raises(ValueError, match="only 100 s long"):
        Timeline.plan(100.0, 200.0, truncate=True)
    with pytest.raises(ValueError, match="positive duration"):
        Timeline(100.0, 0.0)
    stretched = Timeline.plan(100.0, 200.0)  # without truncate a longer run stretches
    assert stretched.compression == 0.5 and stretched.scenario_time(100.0) == 50.0


def test_a_truncated_run_of_a_long_timeline_stops_drawing_at_its_horizon() -> None:
    # a day at 1000/s would be 86 M candidates: the schedule must stop after 2 s of it
    busy = ConstantArrivals(profile="constant", rate_per_s=1000.0)
    t = times(busy, Timeline.plan(86_400.0, 2.0, truncate=True))
    assert within(t.size, 2000.0) and t.max() < 2.0
