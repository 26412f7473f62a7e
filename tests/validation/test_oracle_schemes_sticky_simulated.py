"""The oracle, the scheme rules and sticky routing in simulated runs.

The oracle is the best routing: on the same seeds no policy beats it by more than luck
allows, and it sends nothing to an acquirer in an outage. The scheme rules change only
what they say (fees without a change of routing when the scenario pays; fewer retries
when it stops), and their fees are in the cost. Sticky routing sends a returning card
to the acquirer that last approved it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from results.summary import pool
from scenarios.loader import load_scenario, validate_scenario
from scenarios.schema import Scenario
from scenarios.streams import replication_seeds
from scenarios.transform import compress_timeline
from simulator import simulate
from simulator.model import Flight, Replication
from simulator.observer import Observer
from simulator.yardsticks import OracleRuns, oracle_policy

SEED = 20261121
OUTAGE = compress_timeline(load_scenario("acquirer_outage"), 600.0)  # outage 200-400 s


def test_the_oracle_beats_every_policy_on_the_same_seeds() -> None:
    runs = OracleRuns()
    results = {
        name: simulate(OUTAGE, name, seed=SEED, replications=3, oracle=runs)
        for name in ("priority", "sr_window", "sr_thompson")
    }
    assert runs.runs == 1  # one routing set-up: one oracle run for all three
    for name, result in results.items():
        yard = result.summary.yardsticks
        assert yard is not None
        low, _ = yard.regret.auth_rate_pp_ci95
        assert low is not None and low > 0.0, name  # significantly below the oracle
        assert yard.regret.oracle_auth_rate == pytest.approx(
            results["priority"].summary.yardsticks.regret.oracle_auth_rate  # type: ignore[union-attr]
        )
    priority = results["priority"].summary.yardsticks
    assert priority is not None
    (incident,) = priority.incidents
    assert incident.detection.happened == 0  # a priority list never moves
    assert incident.lost_payments is not None and incident.lost_payments > 0
    sr = results["sr_window"].summary.yardsticks
    assert sr is not None and sr.regret.auth_rate_pp < priority.regret.auth_rate_pp
    # the time series carries the oracle's approvals, bucket by bucket
    rows = results["sr_window"].timeseries
    assert all(row["oracle_approved"] >= 0 for row in rows)
    assert sum(row["oracle_approved"] for row in rows) == pytest.approx(
        (sr.regret.oracle_auth_rate or 0) * results["sr_window"].summary.payments, abs=1
    )


def test_the_oracle_sends_nothing_to_an_acquirer_in_an_outage() -> None:
    oracle = oracle_policy(OUTAGE, OUTAGE.policy("priority"))
    (seq,) = replication_seeds(SEED, 1)
    tally = Replication(OUTAGE, oracle, seq).run()
    a = tally.acquirers.index("acq_a")
    width = tally.share_bucket_s
    during = [f for f in range(tally.n_fine) if 200.0 <= f * width < 400.0]
    before = [f for f in range(tally.n_fine) if 40.0 <= f * width < 200.0]
    assert sum(tally.fine_first[a][f] for f in during) == 0
    # before it, acq_a is where the oracle cascades to: its hard 57 declines make it a
    # worse first try than acq_b, whose failures all cascade (see router/engine/oracle.py)
    width_s = tally.bucket_s
    before = [b for b in range(tally.n_buckets) if 40.0 <= b * width_s < 200.0]
    assert sum(tally.series_attempts[a][b] for b in before) > 100


def scenario(changes: dict[str, Any], base: Scenario = OUTAGE) -> Scenario:
    data = base.model_dump(mode="python", by_alias=True)
    for key, value in changes.items():
        target = data
        *path, last = key.split(".")
        for part in path:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return validate_scenario(data, "test")


CARDS = {"traffic.cards": {"count": 300}}  # about 60 payments a card in the run


def run(s: Scenario, policy: str = "priority") -> Any:
    (seq,) = replication_seeds(SEED, 1)
    return Replication(s, s.policy(policy), seq).run()


def test_paying_scheme_fees_changes_no_routing_and_adds_exactly_the_fees_to_cost() -> None:
    free = run(scenario({**CARDS, "schemes": {"enabled": False}}))
    lenient = {"declines_per_day": 100, "declines_per_30_days": 100}
    visa = run(
        scenario(
            {
                **CARDS,
                "schemes": {"visa": {"retry_limit": 1, "over_limit": "pay"}, "mastercard": lenient},
            }
        )
    )
    mastercard = run(
        scenario(
            {
                **CARDS,
                "schemes": {"visa": {"retry_limit": 100}, "mastercard": {"declines_per_day": 1}},
            }
        )
    )
    for paid, fee in ((visa, 10.0), (mastercard, 50.0)):
        assert (paid.attempts, paid.approved, paid.cascaded) == (
            free.attempts,
            free.approved,
            free.cascaded,
        )
        assert paid.excess_attempts > 20 and paid.scheme_stops == 0
        assert paid.scheme_fees == pytest.approx(fee * paid.excess_attempts)
        assert paid.cost - free.cost == pytest.approx(paid.scheme_fees)


def test_stopping_at_the_limit_retries_less_and_advice_to_stop_is_obeyed() -> None:
    stop = run(scenario({**CARDS, "schemes": {"visa": {"retry_limit": 1}}}))
    free = run(scenario({**CARDS, "schemes": {"enabled": False}}))
    assert stop.scheme_stops > 0
    assert stop.cascaded < free.cascaded
    assert stop.attempts == free.attempts - (free.cascaded - stop.cascaded)
    advised = run(
        scenario({"acquirers.0.merchant_advice_codes": {"03": 0.5}, "schemes": {"enabled": True}})
    )
    plain = run(OUTAGE)
    assert advised.scheme_stops > 0 and advised.cascaded < plain.cascaded
    assert advised.scheme_stops == plain.cascaded - advised.cascaded


def test_scheme_figures_reach_the_summary() -> None:
    result = simulate(
        scenario({**CARDS, "schemes": {"visa": {"retry_limit": 1, "over_limit": "pay"}}}),
        "priority",
        seed=SEED,
        replications=2,
    )
    figures = result.summary.schemes
    assert figures is not None and figures.excess_attempts > 0 and figures.fees > 0
    assert result.summary.yardsticks is None  # no oracle asked for


class FirstAttempts(Observer):
    """Every attempt, for replaying which acquirer last approved each card."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int, str, bool, float, int]] = []

    def attempt(
        self,
        flight: Flight,
        acquirer: str,
        code: str,
        timed_out: bool,
        latency_ms: float,
        fee: float,
        sent_at: float,
    ) -> None:
        approved = code == "00" and not timed_out
        answered = sent_at + latency_ms / 1000.0
        attempt = flight.flow.attempts
        self.events.append((sent_at, flight.payment.card, acquirer, approved, answered, attempt))


def stuck_share(s: Scenario, policy: str) -> float:
    """Of the first attempts of cards approved before, the share that went to the
    acquirer that approved the card last (as far as answers had arrived)."""
    observer = FirstAttempts()
    (seq,) = replication_seeds(SEED, 1)
    Replication(s, s.policy(policy), seq, observer=observer).run()
    approvals = sorted((e[4], e[1], e[2]) for e in observer.events if e[3])
    firsts = sorted((e[0], e[1], e[2]) for e in observer.events if e[5] == 1)
    last: dict[int, str] = {}
    i = hits = total = 0
    for t, card, acquirer in firsts:
        while i < len(approvals) and approvals[i][0] <= t:
            last[approvals[i][1]] = approvals[i][2]
            i += 1
        if card in last:
            total += 1
            hits += last[card] == acquirer
    assert total > 1_000
    return hits / total


def test_sticky_sends_returning_cards_back_to_their_last_approving_acquirer() -> None:
    split = {"type": "weighted", "weights": {"acq_a": 1, "acq_b": 1, "acq_c": 1}}
    base = scenario(
        {
            "traffic.cards": {"count": 300, "skew": 0.8},
            "traffic.duration_s": 180.0,
            "warmup_s": 10.0,
            "bucket_s": 10.0,
            "acquirers.0.incidents": [],
        }
    )
    data = base.model_dump(mode="python", by_alias=True)
    template = data["policies"][0]
    data["policies"] = [
        {**template, "name": "split", "strategy": split},
        {**template, "name": "sticky", "strategy": {"type": "sticky", "inner": split}},
    ]
    s = validate_scenario(data, "sticky")
    assert stuck_share(s, "split") < 0.5
    assert stuck_share(s, "sticky") > 0.97


def test_old_summaries_without_the_new_fields_still_load() -> None:
    from pathlib import Path

    from results.contract import read_summary

    old = Path(__file__).parent.parent / "unit" / "data" / "written_before_identity" / "priority"
    summary = read_summary(old)
    assert summary.yardsticks is None and summary.schemes is None


def test_card_draws_and_sticky_state_keep_runs_repeatable() -> None:
    s = scenario(CARDS)
    first = pool([run(s, "sr_window")]).report()
    again = pool([run(s, "sr_window")]).report()
    assert first == again
    assert np.isfinite(first["cost"])
