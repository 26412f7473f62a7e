"""The tally's series for the yardsticks (first attempts per acquirer and approvals per
share bucket, watched segments) and its scheme counts: what each call counts, and that
reports, merges and pickles keep them."""

from __future__ import annotations

import pickle

import orjson
import pytest

from results.summary import pool
from results.tally import SHARE_BUCKET_S, Tally
from scenarios.taxonomy import OutcomeClass

NAMES = ["acq_a", "acq_b"]
OK, SOFT = OutcomeClass.APPROVED, OutcomeClass.SOFT_DECLINE


def paid(tally: Tally, t: float, first: int, approved: bool, amount: int = 1_000) -> None:
    tally.payment(
        t, first, 1, approved, "00" if approved else "05", OK if approved else SOFT, 200.0, amount
    )


def test_share_buckets_are_five_seconds_or_the_time_bucket_when_finer() -> None:
    assert SHARE_BUCKET_S == 5.0
    assert (Tally(NAMES, 60.0, 30.0).share_bucket_s, Tally(NAMES, 60.0, 30.0).n_fine) == (5.0, 12)
    assert Tally(NAMES, 10.0, 2.0).share_bucket_s == 2.0


def test_first_attempts_and_approvals_are_counted_per_share_bucket() -> None:
    tally = Tally(NAMES, 30.0, 30.0)
    paid(tally, 1.0, 0, True)
    paid(tally, 4.9, 1, False)
    paid(tally, 5.0, 1, True)
    paid(tally, 99.0, 0, True)  # past the end: the last bucket
    paid(tally, 12.0, -1, False)  # no attempt at all: no first attempt anywhere
    assert tally.fine_first == [[1, 0, 0, 0, 0, 1], [1, 1, 0, 0, 0, 0]]
    assert tally.fine_approved == [1, 1, 0, 0, 0, 1]
    assert tally.offered_amount == 5_000


def test_watched_segments_count_their_own_first_attempts() -> None:
    tally = Tally(NAMES, 20.0, 10.0, watches=2)
    tally.watched(1, 0, 3.0)
    tally.watched(1, 1, 7.0)
    tally.watched(0, 1, 19.0)
    assert tally.watch_first == [[[0, 0, 0, 0], [0, 0, 0, 1]], [[1, 0, 0, 0], [0, 1, 0, 0]]]
    tally.acquirer_index("acq_c")  # an acquirer added later has its columns in every watch
    assert [len(w) for w in tally.watch_first] == [3, 3]


def test_scheme_fees_count_in_the_cost_and_stops_are_counted() -> None:
    tally = Tally(NAMES, 10.0, 10.0)
    tally.attempt(0, 1.0, False, 0.5)
    tally.scheme(50.0, 1, False)
    tally.scheme(0.0, 0, True)
    tally.scheme(20.0, 2, True)
    assert (tally.cost, tally.scheme_fees) == pytest.approx((70.5, 70.0))
    assert (tally.excess_attempts, tally.scheme_stops) == (3, 2)


def filled(watches: int = 1) -> Tally:
    tally = Tally(NAMES, 30.0, 10.0, watches=watches)
    for i in range(40):
        t = i * 0.7
        paid(tally, t, i % 2, i % 3 != 0, 1_000 + i)
        if watches and i % 4 == 0:
            tally.watched(0, i % 2, t)
    tally.scheme(50.0, 1, True)
    return tally


def test_the_new_series_survive_a_report_json_and_pickle() -> None:
    tally = filled()
    report = tally.report()
    for data in (report, orjson.loads(orjson.dumps(report))):
        assert Tally.from_report(data).report() == report
    assert pickle.loads(pickle.dumps(tally)).report() == report
    broken = dict(report, fine_approved=report["fine_approved"][:-1])
    with pytest.raises(ValueError, match="share series"):
        Tally.from_report(broken)


def test_merging_adds_the_new_series_and_counts() -> None:
    a, b = filled(), filled()
    whole = pool([a, b])
    assert whole.fine_first == [[2 * n for n in col] for col in a.fine_first]
    assert whole.watch_first == [[[2 * n for n in col] for col in w] for w in a.watch_first]
    assert whole.fine_approved == [2 * n for n in a.fine_approved]
    assert (whole.offered_amount, whole.scheme_fees) == (2 * a.offered_amount, 100.0)
    assert (whole.excess_attempts, whole.scheme_stops) == (2, 2)
    with pytest.raises(ValueError, match="watched segments"):
        filled(watches=1).merge(Tally(NAMES, 30.0, 10.0, watches=2))
