"""Scenario transforms: derived scenarios for runs that cannot play the original as is."""

from __future__ import annotations

from typing import Any

import yaml

from scenarios.loader import validate_scenario
from scenarios.schema import Scenario

# Keys holding a time on the scenario timeline, per arrival profile.
_ARRIVAL_TIMES = {
    "piecewise": (),
    "spike": ("start_s", "end_s"),
    "diurnal": ("period_s", "peak_s"),
    "constant": (),
    "ramp": (),
}


def compress_timeline(scenario: Scenario, duration_s: float) -> Scenario:
    """The same scenario played over ``duration_s`` seconds instead of its own duration.

    Every time on the timeline (duration, warm-up, time buckets, incident windows,
    arrival profile times) is scaled by the same factor; rates, latencies and
    probabilities are unchanged. So a live load test that must finish in under a minute
    and the simulation it is checked against play exactly the same, shorter, story:
    fewer payments, each incident a proportionally shorter window.
    """
    factor = duration_s / scenario.traffic.duration_s
    data: dict[str, Any] = scenario.model_dump(mode="python", by_alias=True)
    data["name"] = f"{scenario.name}_{round(duration_s)}s"
    data["description"] = (
        f"{scenario.description} (timeline compressed {1 / factor:.3g}x to {duration_s:g} s)"
    ).strip()
    data["warmup_s"] = scenario.warmup_s * factor
    data["bucket_s"] = max(scenario.bucket_s * factor, 0.5)
    data["traffic"]["duration_s"] = duration_s
    arrival = data["traffic"]["arrival"]
    for key in _ARRIVAL_TIMES[arrival["profile"]]:
        arrival[key] *= factor
    for step in arrival.get("steps", []):
        step["start_s"] *= factor
    for acquirer in data["acquirers"]:
        for incident in acquirer["incidents"]:
            for key in ("start_s", "end_s", "ramp_in_s", "ramp_out_s"):
                incident[key] *= factor
    return validate_scenario(_without_none(data), f"{scenario.name} (compressed)")


def _without_none(value: Any) -> Any:
    """Drop unset optional fields so the dump validates like a hand-written file."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def scenario_yaml(scenario: Scenario) -> str:
    """The scenario as YAML text that loads back to an equal scenario."""
    return yaml.safe_dump(
        _without_none(scenario.model_dump(mode="python", by_alias=True)), sort_keys=False
    )
