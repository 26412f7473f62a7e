"""The yardsticks against hand-made tallies: detection, recovery, payments lost, regret,
exactly as results/yardsticks.py defines them."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from results.tally import Tally
from results.yardsticks import (
    CONSECUTIVE,
    DETECTED_BELOW,
    MIN_BUCKET_PAYMENTS,
    RECOVERED_AT,
    incident_yardsticks,
    measure,
    objective_pp,
    regret,
)
from scenarios.conditions import Condition
from scenarios.loader import load_scenario
from scenarios.schema import Scenario
from scenarios.taxonomy import OutcomeClass

OUTAGE = load_scenario("acquirer_outage")  # acq_a's outage from 600 s to 1200 s
NAMES = OUTAGE.acquirer_names


def scenario(incidents: list[dict[str, Any]], objective: float | None = None) -> Scenario:
    data = OUTAGE.model_dump(mode="python", by_alias=True)
    data["acquirers"][0]["incidents"] = incidents
    if objective is not None:
        data["objective"] = {"lambda_pp_per_bps": objective}
    return Scenario.model_validate(data)


Share = Callable[[float], float]  # acq_a's share of first attempts at time t


def tally(
    share: Share,
    per_bucket: int = MIN_BUCKET_PAYMENTS,
    approved: Callable[[float, int], bool] = lambda t, i: True,
    watches: int = 0,
    watched: Callable[[float], bool] = lambda t: False,
) -> Tally:
    """A run with ``per_bucket`` payments every 5 s from the warm-up's end on, acq_a
    taking the first ``round(share(t) * per_bucket)`` of each bucket, acq_b the rest."""
    t_ = Tally(NAMES, OUTAGE.traffic.duration_s, OUTAGE.bucket_s, watches=watches)
    start = OUTAGE.warmup_s
    for b in range(int(start // 5), int(OUTAGE.traffic.duration_s // 5)):
        t = b * 5.0
        to_a = round(share(t) * per_bucket)
        for i in range(per_bucket):
            first = 0 if i < to_a else 1
            ok = approved(t, i)
            outcome = OutcomeClass.APPROVED if ok else OutcomeClass.SOFT_DECLINE
            t_.payment(t + 0.1 * i, first, 1, ok, "00" if ok else "05", outcome, 200.0, 1_000)
            if watches and watched(t):
                t_.watched(0, first, t + 0.1 * i)
    return t_


def outage_share(t: float) -> float:
    """60 % before; nothing from 610 s to 1230 s; 60 % again after."""
    return 0.0 if 610.0 <= t < 1230.0 else 0.6


ONE = scenario([{"name": "down", "start_s": 600, "end_s": 1200, "approval_delta": -0.5}])


def test_detection_and_recovery_times_follow_the_definitions() -> None:
    (found,) = incident_yardsticks(ONE, [], [tally(outage_share)] * 3, None)
    assert found.share_before == pytest.approx(0.6)
    assert found.applicable == [True] * 3
    # 600-610 still at 60 %; the 610-615 and 615-620 buckets are under 6 %: 615 - 600
    assert found.detection.per_replication == [15.0] * 3
    # back at 60 % in the 1230-1235 bucket (and the next): 1235 - 1200
    assert found.recovery.per_replication == [35.0] * 3
    assert (found.detection.median_s, found.detection.mean_s) == (15.0, 15.0)
    assert (found.detection.replications, found.detection.happened) == (3, 3)
    assert found.segment == "all payments"
    assert (DETECTED_BELOW, RECOVERED_AT, CONSECUTIVE) == (0.10, 0.50, 2)


def test_one_bucket_under_the_threshold_is_noise_two_are_a_crossing() -> None:
    def blip(t: float) -> float:
        if t in (605.0, 620.0):  # lone dips: not yet detected
            return 0.0
        return outage_share(t) if t >= 640.0 or t >= 1200.0 else 0.6

    (found,) = incident_yardsticks(ONE, [], [tally(blip)], None)
    assert found.detection.per_replication == [645.0 - 600.0]


def test_the_thresholds_are_relative_to_the_share_before() -> None:
    def partial(t: float) -> float:  # from 60 % down to 7 % (above 6 %), back to 29 % (under 30)
        if t < 600.0:
            return 0.6
        return 0.07 if t < 1200.0 else 0.29

    (found,) = incident_yardsticks(ONE, [], [tally(partial, per_bucket=100)], None)
    assert found.detection.per_replication == [None]
    assert found.recovery.per_replication == [None]
    assert found.detection.median_s is None and found.detection.happened == 0


def test_a_static_policy_never_detects_and_is_back_at_once() -> None:
    (found,) = incident_yardsticks(ONE, [], [tally(lambda t: 1.0)] * 2, None)
    assert found.detection.per_replication == [None, None]
    assert found.recovery.per_replication == [5.0, 5.0]  # one bucket: the resolution


def test_a_policy_that_hardly_used_the_acquirer_is_not_judged_on_it() -> None:
    low = tally(lambda t: 0.03 if t < 600 else 0.0, per_bucket=100)
    (found,) = incident_yardsticks(ONE, [], [low, tally(outage_share)], None)
    assert found.applicable == [False, True]
    assert found.detection.per_replication == [None, 15.0]
    assert (found.detection.replications, found.detection.happened) == (1, 1)
    assert "under 5%" in (found.not_applicable_because or "")


def test_a_thin_segment_is_judged_in_merged_buckets() -> None:
    thin = tally(outage_share, per_bucket=2)  # 2 payments per 5 s: merged by 10 (50 s)
    assert math.ceil(MIN_BUCKET_PAYMENTS / 2) == 10
    (found,) = incident_yardsticks(ONE, [], [thin], None)
    # 50 s buckets from 0: 600-650 holds 2 buckets at 60 % of 10: 0.12 > 0.06; 650-700 is 0
    assert found.detection.per_replication == [100.0]


def test_the_share_before_leaves_out_the_acquirers_earlier_incidents() -> None:
    flapping = scenario(
        [
            {"name": "flap1", "start_s": 400, "end_s": 500, "approval_delta": -0.5},
            {"name": "flap2", "start_s": 600, "end_s": 700, "approval_delta": -0.5},
        ]
    )

    def share(t: float) -> float:
        return 0.0 if 400 <= t < 520 or 600 <= t < 720 else 0.5

    first, second = incident_yardsticks(flapping, [], [tally(share)], None)
    assert first.share_before == pytest.approx(0.5)
    # 300-400 and 500-600, flap1 left out: the recovery (500-520) is healthy time
    assert second.share_before == pytest.approx((20 * 0.5 + 16 * 0.5) / 40)
    assert first.recovery.per_replication == [25.0]  # 520-525 back: 525 - 500
    assert second.detection.per_replication == [5.0]
    # recovery from flap1 is searched before flap2 starts only
    late = incident_yardsticks(flapping, [], [tally(lambda t: 0.0 if t >= 400 else 0.5)], None)
    assert late[0].recovery.per_replication == [None]


def test_an_incident_on_a_segment_is_judged_on_that_segments_payments() -> None:
    segment = {"network": "amex"}
    watched = scenario(
        [{"name": "amex", "start_s": 600, "end_s": 1200, "approval_delta": -0.5, "when": segment}]
    )
    watches = [Condition.model_validate(segment)]
    # all payments stay at 60 %; the watched ones (every bucket here) follow outage_share,
    # so the overall share would never show it
    t_ = Tally(NAMES, OUTAGE.traffic.duration_s, OUTAGE.bucket_s, watches=1)
    for b in range(24, 360):
        t = b * 5.0
        for i in range(20):
            t_.payment(t, 0 if i < 12 else 1, 1, True, "00", OutcomeClass.APPROVED, 1.0, 1)
            t_.watched(0, 0 if i < round(outage_share(t) * 20) else 1, t)
    (found,) = incident_yardsticks(watched, watches, [t_], None)
    assert found.segment == "network=amex"
    assert found.detection.per_replication == [15.0]


def test_payments_lost_are_the_oracles_approvals_minus_the_policys_around_it() -> None:
    def declines(t: float, i: int) -> bool:  # 3 of 20 declined from 600 s to 1320 s
        return not (600.0 <= t < 1320.0 and i < 3)

    policy = [tally(outage_share, approved=declines)] * 2
    oracle = [tally(outage_share)] * 2
    (found,) = incident_yardsticks(ONE, [], policy, oracle)
    # from the start to 120 s after the end: 144 buckets of 5 s, 3 lost in each
    assert found.lost_per_replication == [432.0, 432.0]
    assert found.lost_payments == 432.0


def test_regret_is_oracle_minus_policy_with_a_paired_interval() -> None:
    policy = [tally(outage_share, approved=lambda t, i, k=k: i >= k) for k in (2, 4, 2)]
    oracle = [tally(outage_share, approved=lambda t, i: i >= 0)] * 3
    got = regret(policy, oracle, 0.0)
    assert got.per_replication_pp == pytest.approx([10.0, 20.0, 10.0])
    assert got.auth_rate_pp == pytest.approx(40.0 / 3, abs=1e-3)
    low, high = got.auth_rate_pp_ci95
    assert low is not None and high is not None and low < 13.3 < high
    assert got.objective_pp == got.auth_rate_pp  # no cost weight: the objective is the rate
    assert got.oracle_auth_rate == 1.0
    with pytest.raises(ValueError, match="policy tallies"):
        regret(policy, oracle[:2], 0.0)


def test_the_objective_weighs_cost_in_bps_of_the_amount_offered() -> None:
    t_ = tally(lambda t: 0.5)
    t_.cost = 0.012 * t_.offered_amount  # 120 bps
    assert objective_pp(t_, 0.0) == pytest.approx(100.0)
    assert objective_pp(t_, 0.02) == pytest.approx(100.0 - 0.02 * 120.0)
    yard = measure(scenario([], objective=0.02), [], [t_], [t_])
    assert yard.regret.lambda_pp_per_bps == 0.02
    assert yard.regret.oracle_objective_pp == pytest.approx(97.6)
    assert "5 s bucket" in yard.method and yard.incidents == []


def test_an_incident_that_improves_the_acquirer_has_nothing_to_detect() -> None:
    better = scenario([{"name": "up", "start_s": 600, "end_s": 1200, "approval_delta": 0.02}])
    (found,) = incident_yardsticks(better, [], [tally(outage_share)], [tally(outage_share)])
    assert found.applicable == [False]
    assert found.detection.replications == 0 and found.detection.per_replication == [None]
    assert found.not_applicable_because == "the incident does not degrade the acquirer"
    assert found.lost_payments == 0.0
    slower = scenario([{"name": "slow", "start_s": 600, "end_s": 1200, "latency_factor": 2.0}])
    assert incident_yardsticks(slower, [], [tally(outage_share)], None)[0].applicable == [True]


def test_an_incident_lasting_to_the_end_of_the_run_has_no_recovery_to_measure() -> None:
    to_the_end = scenario(
        [{"name": "slide", "start_s": 600, "end_s": 1800, "approval_delta": -0.1}]
    )
    (found,) = incident_yardsticks(to_the_end, [], [tally(outage_share)], None)
    assert found.detection.per_replication == [15.0]
    assert found.recovery.replications == 0 and found.recovery.per_replication == [None]
