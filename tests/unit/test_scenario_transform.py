"""compress_timeline: the same story on a shorter timeline, nothing else changed."""

from __future__ import annotations

import pytest
import yaml

from scenarios.loader import load_scenario, parse_scenario, validate_scenario
from scenarios.transform import compress_timeline, scenario_yaml


def test_every_time_on_the_timeline_scales_and_nothing_else() -> None:
    outage = load_scenario("acquirer_outage")
    short = compress_timeline(outage, 45.0)
    factor = 45.0 / outage.traffic.duration_s
    assert short.name == "acquirer_outage_45s"
    assert short.traffic.duration_s == 45.0
    assert short.warmup_s == pytest.approx(outage.warmup_s * factor)
    original = [(i.start_s, i.end_s) for a in outage.acquirers for i in a.incidents]
    scaled = [(i.start_s, i.end_s) for a in short.acquirers for i in a.incidents]
    assert scaled == [pytest.approx((s * factor, e * factor)) for s, e in original]
    # rates, latencies, approval models and policies are untouched
    assert short.traffic.arrival == outage.traffic.arrival
    assert [a.latency for a in short.acquirers] == [a.latency for a in outage.acquirers]
    assert [a.approval for a in short.acquirers] == [a.approval for a in outage.acquirers]
    assert short.policies == outage.policies


def test_arrival_profile_times_scale_too() -> None:
    data = yaml.safe_load(scenario_yaml(load_scenario("baseline")))
    data["traffic"]["arrival"] = {
        "profile": "piecewise",
        "steps": [{"start_s": 0, "rate_per_s": 10}, {"start_s": 900, "rate_per_s": 30}],
    }
    short = compress_timeline(validate_scenario(data), 90.0)
    assert [s.start_s for s in short.traffic.arrival.steps] == [0.0, 45.0]  # type: ignore[union-attr]
    data["traffic"]["arrival"] = {
        "profile": "spike",
        "base_rate_per_s": 10,
        "spike_rate_per_s": 50,
        "start_s": 600,
        "end_s": 1200,
    }
    spike = compress_timeline(validate_scenario(data), 180.0).traffic.arrival
    assert (spike.start_s, spike.end_s) == (60.0, 120.0)  # type: ignore[union-attr]


def test_yaml_round_trip_is_exact_including_empirical_percentiles() -> None:
    data = yaml.safe_load(scenario_yaml(load_scenario("baseline")))
    data["acquirers"][0]["latency"] = {"dist": "empirical", "percentiles": {50: 200, 99: 900}}
    scenario = validate_scenario(data)
    assert parse_scenario(scenario_yaml(scenario), "round-trip") == scenario
