"""A seed fixes a simulated run: same seed, same results; another seed, other results.

Runs the bundled baseline scenario, shortened, with an incident added to its first
acquirer so technical errors, hung requests, router timeouts and void-then-cascade
are all exercised, under each of its routing policies (success-rate routing draws
from the routing stream too).
"""

from __future__ import annotations

import json

import pytest
import yaml
from validation_scenarios import SEED

from scenarios.loader import BUNDLED_DIR, validate_scenario
from scenarios.schema import Scenario
from simulator import SimulationResult, simulate

REPLICATIONS = 2
# Wall-clock figures: the only ones allowed to change between identical runs.
WALL_CLOCK_FIELDS = {"wall_seconds", "sim_payments_per_second"}


def _shortened_baseline() -> Scenario:
    data = yaml.safe_load((BUNDLED_DIR / "baseline.yaml").read_text(encoding="utf-8"))
    data["traffic"]["duration_s"] = 120.0
    data["warmup_s"] = 20.0
    data["bucket_s"] = 30.0
    data["acquirers"][0]["incidents"] = [
        {
            "name": "degraded",
            "start_s": 40.0,
            "end_s": 80.0,
            "approval_delta": -0.2,
            "error_rate": 0.1,
            "timeout_rate": 0.05,
            "latency_factor": 3.0,
        }
    ]
    return validate_scenario(data, "baseline (shortened)")


def _comparable(result: SimulationResult) -> str:
    """Everything a run produced except wall-clock figures, as canonical text.

    Text, because a run legitimately holds NaN (the auth rate of an acquirer that got
    no attempts) and NaN never equals itself.
    """
    summary = result.summary.model_dump()
    for field in WALL_CLOCK_FIELDS:
        summary.pop(field)
    return json.dumps(
        {
            "summary": summary,
            "timeseries": result.timeseries,
            "histogram": result.histogram.counts,
            "queue_wait_ms": result.queue_wait_ms,
        },
        sort_keys=True,
    )


SCENARIO = _shortened_baseline()


@pytest.mark.parametrize("policy", [p.name for p in SCENARIO.policies])
def test_same_seed_gives_identical_results(policy: str) -> None:
    first = simulate(SCENARIO, policy, seed=SEED, replications=REPLICATIONS)
    again = simulate(SCENARIO, policy, seed=SEED, replications=REPLICATIONS)
    assert _comparable(first) == _comparable(again)
    # the scenario really exercised the failure paths the incident adds
    assert first.summary.timeouts["timeouts"] > 0
    assert first.summary.declines_by_class.get("technical_error", 0) > 0


@pytest.mark.parametrize("policy", [p.name for p in SCENARIO.policies])
def test_different_seeds_give_different_results(policy: str) -> None:
    first = simulate(SCENARIO, policy, seed=SEED, replications=REPLICATIONS)
    other = simulate(SCENARIO, policy, seed=SEED + 1, replications=REPLICATIONS)
    assert first.summary.seed != other.summary.seed
    assert [r.payments for r in first.summary.per_replication] != [
        r.payments for r in other.summary.per_replication
    ]
    assert first.histogram.counts != other.histogram.counts
    assert first.summary.auth_rate != other.summary.auth_rate


def test_progress_reporting_does_not_change_results() -> None:
    """Running in progress-sized slices of virtual time must not perturb the run."""
    calls: list[tuple[int, float]] = []
    quiet = simulate(SCENARIO, seed=SEED, replications=REPLICATIONS)
    chatty = simulate(
        SCENARIO, seed=SEED, replications=REPLICATIONS, progress=lambda r, f: calls.append((r, f))
    )
    assert _comparable(quiet) == _comparable(chatty)
    assert calls and calls[-1] == (REPLICATIONS - 1, 1.0)


def test_adding_replications_keeps_the_existing_ones() -> None:
    """Replication r has the same seed whatever the replication count."""
    short = simulate(SCENARIO, seed=SEED, replications=1)
    longer = simulate(SCENARIO, seed=SEED, replications=REPLICATIONS)
    assert short.summary.per_replication[0] == longer.summary.per_replication[0]
