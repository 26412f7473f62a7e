"""The simulator's shortcuts change nothing but its speed.

The simulator handles arrivals that come before every scheduled SimPy event directly,
without an event each (``Replication._on_arrival``), and gives the routing engine each
answer just before the next decision that could see it, from a heap, rather than by an
event at answer time. Here every bundled scenario, under every one of its policies, and
a saturated queue are run both ways with the same seed, the second time as the plain
model with an event for every arrival and every answer: the results must be identical,
figure for figure. The bundled scenarios between them
exercise incidents, technical errors, hung requests, router timeouts, voids before a
cascade, cascades on declines and success-rate feedback.

It also checks what lets the simulator pause the cyclic garbage collector during a
run: the run leaves no reference cycles behind, however many payments it simulates.
"""

from __future__ import annotations

import gc
import json
from typing import Any

import numpy as np
import pytest
from validation_scenarios import SEED, single_queue_scenario

from results.summary import timeseries
from scenarios.loader import BUNDLED_DIR, load_scenario
from scenarios.schema import Scenario
from scenarios.transform import compress_timeline
from simulator.model import Replication
from simulator.run import summarise

BUNDLED = sorted(p.stem for p in BUNDLED_DIR.glob("*.yaml"))
SHORT_S = 300.0  # each bundled scenario's story, compressed: about 10,000 payments


def _everything(scenario: Scenario, policy: str, event_per_step: bool) -> tuple[str, int]:
    """All a replication produced, as canonical text (NaN-safe), and the arrivals."""
    replication = Replication(
        scenario,
        scenario.policy(policy),
        np.random.SeedSequence(SEED),
        event_per_step=event_per_step,
    )
    tally = replication.run()
    summary = summarise(scenario, policy, SEED, [tally], 1.0, 1.0).model_dump()
    everything: dict[str, Any] = {
        "summary": summary,
        "timeseries": timeseries([tally], scenario),
        "histogram": tally.latency.counts,
        "queue_waits_s": [q.total_wait_s for q in replication.queues],
        "queue_admitted": [q.admitted for q in replication.queues],
        "lifecycle": [tally.timeouts, tally.settled, tally.unsettled, tally.reversed_approvals],
    }
    return json.dumps(everything, sort_keys=True), replication.arrived


def _policies(name: str) -> list[tuple[str, str]]:
    scenario = load_scenario(BUNDLED_DIR / f"{name}.yaml")
    return [(name, p.name) for p in scenario.policies]


@pytest.mark.parametrize(("name", "policy"), [case for name in BUNDLED for case in _policies(name)])
def test_shortcuts_give_the_same_run_as_an_event_per_step(name: str, policy: str) -> None:
    scenario = compress_timeline(load_scenario(BUNDLED_DIR / f"{name}.yaml"), SHORT_S)
    lean, arrived = _everything(scenario, policy, event_per_step=False)
    plain, arrived_plain = _everything(scenario, policy, event_per_step=True)
    assert arrived == arrived_plain > 5_000
    assert lean == plain


def test_shortcuts_keep_a_saturated_queue_exact() -> None:
    """Two slots at 90 % load: long queues, every wait depends on event order."""
    scenario = single_queue_scenario(
        {"dist": "exponential", "mean_ms": 200.0}, capacity=2, rate_per_s=9.0, duration_s=2_000.0
    )
    lean, arrived = _everything(scenario, "only-a", event_per_step=False)
    plain, _ = _everything(scenario, "only-a", event_per_step=True)
    assert arrived > 15_000
    assert lean == plain


def _cyclic_garbage_after_a_run(duration_s: float) -> int:
    scenario = compress_timeline(load_scenario(BUNDLED_DIR / "latency_spike.yaml"), duration_s)
    gc.collect()
    Replication(scenario, scenario.policy(), np.random.SeedSequence(SEED)).run()
    return gc.collect()  # objects found unreachable: only cycles need the collector


def test_a_run_leaves_no_reference_cycles_per_payment() -> None:
    short = _cyclic_garbage_after_a_run(60.0)
    long = _cyclic_garbage_after_a_run(600.0)  # ten times the payments
    assert long <= short + 50


def test_a_run_restores_the_garbage_collector_state() -> None:
    scenario = compress_timeline(load_scenario(BUNDLED_DIR / "baseline.yaml"), 10.0)
    assert gc.isenabled()
    Replication(scenario, scenario.policy(), np.random.SeedSequence(SEED)).run()
    assert gc.isenabled()
    gc.disable()
    try:
        Replication(scenario, scenario.policy(), np.random.SeedSequence(SEED)).run()
        assert not gc.isenabled()
    finally:
        gc.enable()
