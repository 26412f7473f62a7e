"""The one pairing rule: paired, unpaired, not the same experiment, or unknown, by identity."""

from __future__ import annotations

from typing import Any

import pytest

from results.contract import RunSummary
from results.pairing import IDENTITY_UNKNOWN, pairing
from routelab.tables import paired_auth_difference
from scenarios.loader import load_scenario
from scenarios.transform import compress_timeline
from simulator import simulate


@pytest.fixture(scope="module")
def runs() -> dict[str, RunSummary]:
    short = compress_timeline(load_scenario("acquirer_outage"), 120.0)
    return {
        "priority": simulate(short, "priority", replications=3).summary,
        "sr_window": simulate(short, "sr_window", replications=3).summary,
    }


def changed(summary: RunSummary, **identity: Any) -> RunSummary:
    assert summary.identity is not None
    update: dict[str, Any] = {"identity": summary.identity.model_copy(update=identity)}
    for field in ("engine", "seed", "replications"):
        if field in identity:
            update[field] = identity[field]
    return summary.model_copy(update=update)


def test_two_policies_of_one_experiment_on_one_seed_are_paired(
    runs: dict[str, RunSummary],
) -> None:
    p = pairing(runs["priority"], runs["sr_window"])
    assert p.kind == "paired" and p.paired and p.same_experiment
    assert p.reason == "paired over 3 replications with the same payments"
    assert paired_auth_difference(runs["priority"], runs["sr_window"]).endswith("significant")


@pytest.mark.parametrize(
    ("identity", "says"),
    [
        ({"seed": 7}, "seeds differ (20261122 vs 7)"),
        ({"engine": "live", "replications": 1}, "engines differ (simulator vs live)"),
        ({"replications": 2}, "replications differ (3 vs 2)"),
    ],
)
def test_the_same_experiment_otherwise_is_unpaired(
    runs: dict[str, RunSummary], identity: dict[str, Any], says: str
) -> None:
    other = changed(runs["sr_window"], **identity)
    p = pairing(runs["priority"], other)
    assert p.kind == "unpaired" and not p.paired and p.same_experiment
    assert p.reason.startswith("the same experiment, not paired: ") and says in p.reason
    assert paired_auth_difference(runs["priority"], other) == f"n/a ({p.reason})"


def test_single_replications_and_live_runs_are_never_paired(runs: dict[str, RunSummary]) -> None:
    one = changed(runs["sr_window"], replications=1)
    assert "a single replication each" in pairing(one, one).reason
    live = changed(runs["sr_window"], engine="live", replications=1)
    assert "live runs share no random numbers" in pairing(live, live).reason
    assert pairing(live, live).kind == "unpaired"


@pytest.mark.parametrize(
    ("identity", "says"),
    [
        ({"scenario_hash": "0" * 64}, "the scenario content differs"),
        ({"timeline_s": 1800.0}, "the timeline (120 s vs 1,800 s of the scenario) differs"),
        ({"time_scale": 40.0}, "the time scale (×1 vs ×40) differs"),
        ({"rate_scale": 2.0}, "the rate scale (×1 vs ×2) differs"),
    ],
)
def test_another_scenario_timeline_or_scale_is_another_experiment(
    runs: dict[str, RunSummary], identity: dict[str, Any], says: str
) -> None:
    other = changed(runs["sr_window"], **identity)
    p = pairing(runs["priority"], other)
    assert p.kind == "different" and not p.same_experiment
    assert p.reason == f"not the same experiment: {says}"
    assert paired_auth_difference(runs["priority"], other) == f"n/a ({p.reason})"


def test_every_difference_is_named(runs: dict[str, RunSummary]) -> None:
    other = changed(runs["sr_window"], scenario_hash="1" * 64, time_scale=2.0, seed=5)
    reason = pairing(runs["priority"], other).reason
    assert reason == (
        "not the same experiment: the scenario content and the time scale (×1 vs ×2) differ"
    )


def test_a_run_without_identity_is_not_paired(runs: dict[str, RunSummary]) -> None:
    old = runs["sr_window"].model_copy(update={"identity": None})
    for a, b in ((runs["priority"], old), (old, runs["priority"]), (old, old)):
        p = pairing(a, b)
        assert (
            p.kind == "unknown" and p.reason == IDENTITY_UNKNOWN == "identity unknown: not paired"
        )
        assert not p.same_experiment
    assert paired_auth_difference(runs["priority"], old) == "n/a (identity unknown: not paired)"
