"""The one tally both engines count into: what each call counts, merging, plain data, pickling.

The simulator ships tallies between processes (process pools, Dask) and the live harness
between Locust workers (msgpack), so a tally must survive a report, JSON, msgpack and
pickle unchanged, and merging must give what one tally fed everything would have counted.
"""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import msgpack  # type: ignore[import-untyped]  # no stubs; Locust sends reports with it
import numpy as np
import orjson
import pytest

from results.histogram import LatencyHistogram
from results.summary import pool
from results.tally import Tally
from scenarios.loader import load_scenario
from scenarios.streams import replication_seeds
from scenarios.taxonomy import OutcomeClass
from scenarios.transform import compress_timeline
from simulator.model import Replication

NAMES = ["acq_a", "acq_b", "acq_c"]
SOFT = OutcomeClass.SOFT_DECLINE


def fed(events: list[tuple[Any, ...]], names: list[str] = NAMES, **shape: Any) -> Tally:
    """A tally fed ``events``: (t, [(acquirer, approved, fee), ...], code, latency ms)."""
    tally = Tally(names, shape.get("duration_s", 10.0), shape.get("bucket_s", 1.0))
    for t, attempts, code, latency_ms in events:
        first = tally.acquirer_index(attempts[0][0]) if attempts else -1
        for name, approved, fee in attempts:
            tally.attempt(tally.acquirer_index(name), t, approved, fee)
        approved = bool(attempts) and attempts[-1][1]
        outcome = OutcomeClass.APPROVED if approved else SOFT
        tally.payment(t, first, len(attempts), approved, code, outcome, latency_ms, 2_500)
    return tally


def random_events(seed: int, n: int = 300) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(seed)
    events: list[tuple[Any, ...]] = []
    draws = zip(rng.uniform(0, 12.0, n), rng.integers(1, 4, n), rng.lognormal(5, 1, n), strict=True)
    for t, k, lat in draws:
        tried = [NAMES[int(i)] for i in rng.choice(3, size=int(k), replace=False)]
        approved = bool(rng.random() < 0.7)
        attempts = [(a, approved and i == len(tried) - 1, 0.25) for i, a in enumerate(tried)]
        events.append((float(t), attempts, "00" if approved else "05", float(lat)))
    return events


def lifecycle(tally: Tally, timeouts: int, settled: int, unsettled: int, reversed_: int) -> Tally:
    tally.timeouts += timeouts
    tally.settled += settled
    tally.unsettled += unsettled
    tally.reversed_approvals += reversed_
    return tally


def test_each_call_counts_what_it_says() -> None:
    events = [
        (0.5, [("acq_a", True, 1.0)], "00", 100.0),
        (1.5, [("acq_a", False, 0.5), ("acq_b", True, 1.5)], "00", 300.0),
        (1.7, [("acq_b", False, 0.5)], "51", 200.0),
        (25.0, [("acq_c", False, 0.5)], "05", 400.0),  # past the end: the last bucket
    ]
    t = fed(events)
    assert (t.payments, t.approved, t.first_attempt_approved, t.recovered) == (4, 2, 1, 1)
    assert (t.attempts, t.cascaded, t.approved_amount) == (5, 1, 5_000)
    assert t.cost == pytest.approx(4.0)
    assert t.first_attempts == [2, 1, 1]
    assert t.attempts_by_acquirer == [2, 2, 1]
    assert t.approvals_by_acquirer == [1, 1, 0]
    assert t.declines_by_code == {"51": 1, "05": 1}
    assert t.declines_by_class == {"soft_decline": 2}
    assert t.latency.total == 4 and t.latency.quantile(0.5) == pytest.approx(200.0, rel=0.02)
    assert t.n_buckets == 10
    assert (t.series_payments[0], t.series_payments[1], t.series_payments[9]) == (1, 2, 1)
    assert t.series_approved[:2] == [1, 1] and sum(t.series_approved) == 2
    assert t.series_latency_sum_ms[1] == pytest.approx(500.0)
    assert [t.series_attempts[a][1] for a in range(3)] == [1, 2, 0]
    assert t.series_attempts[2][9] == 1
    assert (t.timeouts, t.settled, t.unsettled, t.reversed_approvals) == (0, 0, 0, 0)


def test_a_payment_without_attempts_and_an_acquirer_not_in_the_scenario() -> None:
    t = Tally(["acq_a"], 5.0, 1.0)
    t.payment(0.2, -1, 0, False, "68", OutcomeClass.TIMEOUT, 50.0, 100)
    assert t.first_attempts == [0] and t.payments == 1  # -1: nobody's first attempt
    other = t.acquirer_index("acq_x")
    assert other == 1 and t.acquirers == ["acq_a", "acq_x"]
    t.attempt(other, 3.2, False, 0.0)
    assert t.attempts_by_acquirer == [0, 1] and t.series_attempts[1][3] == 1
    assert t.acquirer_index("acq_x") == 1


def test_an_open_ended_tally_grows_a_fixed_one_keeps_its_last_bucket() -> None:
    fixed = Tally(NAMES, 3.0, 1.0)
    grows = Tally(NAMES, 0.0, 1.0, open_ended=True)
    for tally in (fixed, grows):
        tally.attempt(0, 7.5, True, 0.0)
        tally.payment(7.5, 0, 1, True, "00", OutcomeClass.APPROVED, 10.0, 1)
    assert fixed.n_buckets == 3 and fixed.series_payments == [0, 0, 1]
    assert grows.n_buckets == 8 and grows.series_payments == [0] * 7 + [1]
    assert grows.series_attempts[0][7] == 1 and len(grows.series_attempts[2]) == 8
    with pytest.raises(ValueError, match="bucket_s must be positive"):
        Tally(NAMES, 3.0, 0.0)


def test_merging_gives_what_one_tally_fed_everything_counts() -> None:
    events = random_events(1)
    whole = lifecycle(fed(events), 7, 5, 2, 3)
    parts = [fed(events[i::3]) for i in range(3)]
    lifecycle(parts[0], 3, 2, 1, 1)
    lifecycle(parts[2], 4, 3, 1, 2)
    merged = fed([])
    merged.merge(parts[0])
    merged.merge(parts[1].report())  # a report merges as its tally does
    merged.merge(orjson.loads(orjson.dumps(parts[2].report())))
    got, expected = merged.report(), whole.report()
    # float sums added in another order: equal up to rounding
    assert got.pop("cost") == pytest.approx(expected.pop("cost"))
    assert got.pop("series_latency_sum_ms") == pytest.approx(expected.pop("series_latency_sum_ms"))
    assert got == expected
    assert (merged.timeouts, merged.settled, merged.unsettled, merged.reversed_approvals) == (
        7,
        5,
        2,
        3,
    )


def test_acquirers_are_matched_by_name_when_merging() -> None:
    events = random_events(2, 60)
    a = fed(events, NAMES)
    b = fed(events, ["acq_c", "acq_a"])  # another order, acq_b added when first seen
    assert b.acquirers == ["acq_c", "acq_a", "acq_b"]
    a.merge(b)
    twice = fed(events + events)
    assert a.first_attempts == twice.first_attempts
    assert a.attempts_by_acquirer == twice.attempts_by_acquirer
    assert a.series_attempts == twice.series_attempts


def test_merging_refuses_another_time_cut() -> None:
    with pytest.raises(ValueError, match="different buckets"):
        fed([]).merge(fed([], bucket_s=2.0))
    with pytest.raises(ValueError, match="12 buckets into one of 10"):
        fed([]).merge(fed([], duration_s=12.0))
    shorter = fed([], duration_s=4.0)
    shorter.open_ended = True
    shorter.merge(fed(random_events(3, 20)))
    assert shorter.n_buckets == 10 and shorter.payments == 20


def test_a_report_is_plain_data_and_reads_back_unchanged() -> None:
    tally = lifecycle(fed(random_events(4)), 2, 1, 1, 1)
    report = tally.report()

    def plain(value: Any) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return isinstance(value, int | float | str | bool)

    def depth(value: Any) -> int:
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            return 1 + max((depth(v) for v in value), default=0)
        return 0

    # flat: numbers, dicts and lists of numbers, at most a dict of lists (per acquirer)
    assert plain(report) and depth(report) == 3
    through_json = orjson.loads(orjson.dumps(report))
    through_msgpack = msgpack.loads(msgpack.dumps(report), strict_map_key=False)
    for data in (report, through_json, through_msgpack):
        back = Tally.from_report(data)
        assert back.report() == report
        assert back.latency.counts == tally.latency.counts
        assert back.acquirers == tally.acquirers and back.n_buckets == tally.n_buckets
    with pytest.raises(ValueError, match="not a tally report"):
        Tally.from_report({"payments": 3})
    broken = {**report, "series_payments": report["series_payments"][:-1]}
    with pytest.raises(ValueError, match="10 buckets"):
        Tally.from_report(broken)


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_a_tally_pickles(protocol: int) -> None:
    tally = lifecycle(fed(random_events(5)), 3, 2, 1, 2)
    back = pickle.loads(pickle.dumps(tally, protocol=protocol))
    assert isinstance(back, Tally) and back is not tally
    assert back.report() == tally.report()
    assert (back.timeouts, back.settled, back.unsettled, back.reversed_approvals) == (3, 2, 1, 2)
    back.payment(0.1, 0, 1, True, "00", OutcomeClass.APPROVED, 5.0, 1)  # still counts
    assert back.payments == tally.payments + 1


def _replicate(index: int) -> Tally:
    scenario = compress_timeline(load_scenario("acquirer_outage"), 60.0)
    seed = list(replication_seeds(scenario.seed, 2))[index]
    return Replication(scenario, scenario.policy("sr_window"), seed).run()


def test_replications_run_in_other_processes_pool_as_those_run_here() -> None:
    with ProcessPoolExecutor(max_workers=1) as executor:
        shipped = list(executor.map(_replicate, range(2)))
    here = [_replicate(i) for i in range(2)]
    assert [t.report() for t in shipped] == [t.report() for t in here]
    assert pool(shipped).report() == pool(here).report()
    assert here[0].payments > 500


def test_pooling_keeps_every_count() -> None:
    events = random_events(6)
    tallies = [fed(events[:100]), fed(events[100:])]
    pooled = pool(tallies)
    assert pooled.payments == len(events) and pooled.acquirers == NAMES
    assert pooled.latency.counts == fed(events).latency.counts
    assert tallies[0].payments == 100  # the inputs are left as they were
    with pytest.raises(ValueError, match="no tally"):
        pool([])
    assert isinstance(pooled.latency, LatencyHistogram)
