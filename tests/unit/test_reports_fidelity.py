"""Fidelity checks: a live run against the simulated run of the same scenario.

Each check must apply its stated tolerance exactly, widen the auth-rate allowance by
the live run's own sampling error, and be overridable.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t as scipy_t

from reports.fidelity import Tolerances, fidelity, fidelity_pairs
from reports.rundata import load_run
from reports.testing import live_shaped_run, shifted_histogram
from results.contract import LatencySummary, RunSummary, read_summary
from scenarios.loader import load_scenario
from simulator import simulate


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    scenario = load_scenario("acquirer_outage")
    out = tmp_path_factory.mktemp("runs")
    simulate(scenario, "sr_window", replications=3).write(out / "sim")
    simulate(scenario, "priority", replications=3).write(out / "sim_priority")
    simulate(scenario, "sr_window", seed=99, replications=1).write(out / "single")
    live_shaped_run(out / "single", out / "live", network_ms=5.0)
    return {
        "sim": out / "sim",
        "sim_priority": out / "sim_priority",
        "live": out / "live",
        "single": out / "single",
    }


def _check(result: object, label: str):  # type: ignore[no-untyped-def]
    return next(c for c in result.checks if c.label == label)  # type: ignore[attr-defined]


def test_a_run_agrees_with_itself_on_every_check(runs: dict[str, Path]) -> None:
    sim = read_summary(runs["sim"])
    result = fidelity(sim, sim)
    assert result.judged == result.checks  # every check had both values
    assert result.outside == []
    assert all(c.difference == 0 for c in result.checks)
    assert "8 of 8 checks within tolerance." in result.sentence()


def test_auth_rate_allowance_is_sim_ci_plus_live_sampling_error(runs: dict[str, Path]) -> None:
    sim, live = read_summary(runs["sim"]), read_summary(runs["live"])
    check = _check(fidelity(sim, live), "Authorisation rate")
    lo, hi = sim.auth_rate_ci95
    sim_half = max(sim.auth_rate - lo, hi - sim.auth_rate)
    live_lo, live_hi = live.auth_rate_ci95
    live_half = max(live.auth_rate - live_lo, live_hi - live.auth_rate)
    assert check.allowed == pytest.approx(max(0.01, sim_half + live_half))
    assert check.simulated_ci == (lo, hi)
    assert check.within == (abs(live.auth_rate - sim.auth_rate) <= check.allowed)


def test_auth_rate_outside_tolerance_is_flagged(runs: dict[str, Path]) -> None:
    sim, live = read_summary(runs["sim"]), read_summary(runs["live"])
    check = _check(fidelity(sim, live), "Authorisation rate")
    assert check.allowed is not None
    shift = live.auth_rate - (sim.auth_rate - check.allowed - 0.002)
    lo, hi = live.auth_rate_ci95
    worse = live.model_copy(
        update={"auth_rate": live.auth_rate - shift, "auth_rate_ci95": (lo - shift, hi - shift)}
    )
    flagged = _check(fidelity(sim, worse), "Authorisation rate")
    assert flagged.within is False
    assert "Authorisation rate" in fidelity(sim, worse).sentence()


def test_a_small_live_run_gets_a_wider_allowance(runs: dict[str, Path]) -> None:
    """Few live payments mean a wide Wilson interval: the tolerance must widen with it."""
    sim, live = read_summary(runs["sim"]), read_summary(runs["live"])
    small = live.model_copy(
        update={
            "payments": 400,
            "approved": round(400 * live.auth_rate),
            "auth_rate_ci95": (None, None),
        }
    )
    big = _check(fidelity(sim, live), "Authorisation rate").allowed
    narrow_n = _check(fidelity(sim, small), "Authorisation rate").allowed
    assert narrow_n > big  # Wilson half-width at n=400 is about 3 pp


def test_latency_allowance_is_relative_plus_network(runs: dict[str, Path]) -> None:
    sim = read_summary(runs["sim"])
    tol = Tolerances(latency_rel=0.1, network_ms=7.0)
    p95 = sim.latency_ms.p95
    assert p95 is not None
    slower = sim.model_copy(
        update={
            "latency_ms": LatencySummary(
                p50=sim.latency_ms.p50,
                p95=p95 * 1.1 + 6.0,
                p99=sim.latency_ms.p99,
                mean=sim.latency_ms.mean,
            )
        }
    )
    check = _check(fidelity(sim, slower, tol), "Latency, p95")
    assert check.allowed == pytest.approx(0.1 * p95 + 7.0)
    assert check.within is True
    much_slower = slower.model_copy(
        update={
            "latency_ms": LatencySummary(
                p50=sim.latency_ms.p50,
                p95=p95 * 1.1 + 8.0,
                p99=sim.latency_ms.p99,
                mean=sim.latency_ms.mean,
            )
        }
    )
    assert _check(fidelity(sim, much_slower, tol), "Latency, p95").within is False
    assert check.simulated_ci is not None  # p95 is kept per replication: it has a CI


def test_the_simulator_keeps_shares_per_replication(runs: dict[str, Path]) -> None:
    sim = read_summary(runs["sim"])
    for rep in sim.per_replication:
        assert set(rep.acquirer_share) == set(sim.acquirer_share)
        assert sum(v or 0.0 for v in rep.acquirer_share.values()) == pytest.approx(1.0)
    for name, pooled in sim.acquirer_share.items():
        weighted = sum((r.acquirer_share[name] or 0.0) * r.payments for r in sim.per_replication)
        assert weighted / sim.payments == pytest.approx(pooled, abs=1e-6)


def test_share_allowance_is_one_runs_prediction_interval(runs: dict[str, Path]) -> None:
    """A live run is one more run: its share should land where one replication would."""
    sim = read_summary(runs["sim"])
    name = next(iter(sim.acquirer_share))
    reps = np.array([r.acquirer_share[name] for r in sim.per_replication])
    assert len(reps) == 3 and reps.std() > 0  # the fixture's replications do differ
    spread = float(scipy_t.ppf(0.975, 2)) * reps.std(ddof=1) * math.sqrt(1 + 1 / 3)
    check = _check(fidelity(sim, sim, Tolerances(share_pp=0.0)), f"Share of first attempts, {name}")
    assert check.allowed == pytest.approx(spread)
    assert "prediction interval" in check.rule and "3 replications" in check.rule
    assert check.simulated_ci is not None
    low, high = check.simulated_ci
    assert low < reps.mean() < high
    # the floor applies when the replications barely differ
    floored = _check(fidelity(sim, sim, Tolerances(share_pp=99.0)), check.label)
    assert floored.allowed == pytest.approx(0.99)


def test_shares_outside_the_allowance_and_missing_acquirers(runs: dict[str, Path]) -> None:
    sim = read_summary(runs["sim"])
    names = list(sim.acquirer_share)
    allowed = _check(fidelity(sim, sim), f"Share of first attempts, {names[0]}").allowed
    assert allowed is not None
    moved = dict(sim.acquirer_share)
    moved[names[0]] = (moved[names[0]] or 0.0) + allowed + 0.005
    del moved[names[1]]  # a live run that never used an acquirer omits it: share 0
    live = sim.model_copy(update={"acquirer_share": moved})
    result = fidelity(sim, live)
    first = _check(result, f"Share of first attempts, {names[0]}")
    assert first.difference == pytest.approx(allowed + 0.005) and first.within is False
    second = _check(result, f"Share of first attempts, {names[1]}")
    assert second.live == 0.0
    wider = Tolerances(share_pp=100 * (allowed + 0.01))
    assert _check(fidelity(sim, live, wider), first.label).within is True


def test_share_allowance_without_replications_is_the_stated_floor(runs: dict[str, Path]) -> None:
    single = read_summary(runs["single"])  # one replication: no spread to go by
    name = next(iter(single.acquirer_share))
    check = _check(
        fidelity(single, single, Tolerances(share_pp=4.0)), f"Share of first attempts, {name}"
    )
    assert check.allowed == pytest.approx(0.04)
    assert "no spread" in check.rule


def test_summaries_written_before_shares_per_replication_still_check(
    runs: dict[str, Path],
) -> None:
    sim = read_summary(runs["sim"])
    old_reps = [r.model_copy(update={"acquirer_share": {}}) for r in sim.per_replication]
    old = sim.model_copy(update={"per_replication": old_reps})
    name = next(iter(sim.acquirer_share))
    check = _check(fidelity(old, sim), f"Share of first attempts, {name}")
    assert check.allowed == pytest.approx(0.02) and check.within is True


def test_tolerances_are_stated_in_words() -> None:
    text = " ".join(
        Tolerances(auth_rate_pp=2, share_pp=4, latency_rel=0.3, network_ms=9).describe()
    )
    assert "±2\u00a0pp" in text and "±4\u00a0pp" in text and "prediction interval" in text
    assert "±30\u00a0%" in text and "9\u00a0ms" in text


def test_live_runs_are_paired_with_the_simulated_run_of_their_policy(runs: dict[str, Path]) -> None:
    sims = [read_summary(runs["sim_priority"]), read_summary(runs["sim"])]
    live = read_summary(runs["live"])
    assert fidelity_pairs([*sims, live]) == [(1, 2)]  # sr_window, not the first run
    # no simulated run of that policy: fall back to the scenario's first simulated run
    assert fidelity_pairs([sims[0], live]) == [(0, 1)]
    # runs are matched by identity, not by name
    assert live.identity is not None
    other_content = live.identity.model_copy(update={"scenario_hash": "0" * 64})
    other = live.model_copy(update={"scenario": "baseline", "identity": other_content})
    assert fidelity_pairs([*sims, other]) == []
    renamed = live.model_copy(update={"scenario": "acquirer_outage_copy"})
    assert fidelity_pairs([*sims, renamed]) == [(1, 2)]  # the same experiment by another name


def test_fidelity_refuses_runs_that_are_not_the_same_experiment(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    """A live run that compressed the timeline is not judged against a full-length run."""
    sim = read_summary(runs["sim"])
    compressed = read_summary(live_shaped_run(runs["single"], tmp_path / "fast", time_scale=30.0))
    # it has the simulated run's name, so it is paired with it, to be told why not
    assert fidelity_pairs([sim, compressed]) == [(0, 1)]
    f = fidelity(sim, compressed)
    assert f.refused == "not the same experiment: the time scale (×1 vs ×30) differs"
    assert f.checks == [] and f.judged == []
    assert f.sentence() == (
        "Simulator vs live on acquirer_outage (sr_window) not checked: "
        "not the same experiment: the time scale (×1 vs ×30) differs."
    )
    assert sim.identity is not None
    other = sim.model_copy(
        update={"identity": sim.identity.model_copy(update={"scenario_hash": "f" * 64})}
    )
    live = read_summary(runs["live"])
    assert fidelity(other, live).refused == "not the same experiment: the scenario content differs"
    old = live.model_copy(update={"identity": None})
    assert fidelity(sim, old).refused == "identity unknown: not paired"
    assert fidelity(sim, live).refused is None and len(fidelity(sim, live).judged) > 5


def test_the_live_shaped_stand_in_shifts_latency_and_keeps_counts(runs: dict[str, Path]) -> None:
    single, live = load_run(runs["single"]), load_run(runs["live"])
    assert live.summary.engine == "live" and live.summary.ci_method == "wilson"
    assert live.summary.payments == single.summary.payments
    assert single.histogram is not None and live.histogram is not None
    assert live.histogram.total == single.histogram.total
    shifted = shifted_histogram(single.histogram, 5.0)
    assert shifted.quantile(0.5) == pytest.approx(single.histogram.quantile(0.5) + 5.0, rel=0.03)
    s: RunSummary = live.summary
    assert s.offered_rate is not None and s.offered_rate > 0 and s.http_error_rate == 0.0
