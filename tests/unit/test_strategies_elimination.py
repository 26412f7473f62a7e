"""elimination: a circuit breaker around any strategy (leaky bucket, or a decaying score)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from strategy_kit import answer, assert_propensities_match, build, pay, rule

from router.engine.strategies import Elimination, Ordering, Strategy

ABC = rule("a", "b", "c")
PRIORITY = {"type": "priority"}


def breaker(seed: int = 1, inner: dict[str, Any] | None = None, **config: Any) -> Strategy:
    strategy = build({"type": "elimination", "inner": inner or PRIORITY, **config}, seed=seed)
    assert isinstance(strategy, Elimination)
    return strategy


def fail(strategy: Strategy, acquirer: str, times: int, at: float = 0.0, code: str = "05") -> None:
    for _ in range(times):
        strategy.record(answer(strategy.order(pay(), ABC, at), acquirer, code, at=at))


def first(strategy: Strategy, at: float = 0.0) -> tuple[str, ...]:
    return strategy.order(pay(), ABC, at).acquirers


BUCKET = {"type": "leaky_bucket", "size": 5, "leak_interval_s": 60.0}


def test_a_full_bucket_eliminates_until_a_unit_leaks() -> None:
    strategy = breaker(breaker=BUCKET, probe=0.0)
    fail(strategy, "a", 4, at=10.0)
    assert first(strategy, 10.0) == ("a", "b", "c")
    fail(strategy, "a", 1, at=10.0)
    assert first(strategy, 10.0) == ("b", "c", "a")  # last, not removed: cascades reach it
    assert first(strategy, 69.9) == ("b", "c", "a")
    assert first(strategy, 70.0) == ("a", "b", "c")  # one unit leaked (level 4)
    fail(strategy, "a", 1, at=70.0)
    assert first(strategy, 129.9) == ("b", "c", "a")
    assert first(strategy, 130.0) == ("a", "b", "c")


def test_the_bucket_leaks_one_unit_per_interval_and_successes_do_not_drain_it() -> None:
    strategy = breaker(breaker=BUCKET, probe=0.0)
    fail(strategy, "a", 5, at=0.0)
    fail(strategy, "a", 20, at=0.0)  # a full bucket takes no more
    fail(strategy, "a", 1, at=0.0, code="00")
    assert strategy.scores()["elimination"] == {"a": 5.0}
    assert first(strategy, 59.0) == ("b", "c", "a")
    assert strategy.scores()["elimination"] == {"a": 5.0}
    first(strategy, 185.0)  # three intervals: three units
    assert strategy.scores()["elimination"] == {"a": 2.0}
    fail(strategy, "a", 3, at=200.0)  # back to full; the next leak is at 240, not 260
    assert first(strategy, 239.0) == ("b", "c", "a")
    assert first(strategy, 240.0) == ("a", "b", "c")


def test_the_score_eliminates_after_five_more_failures_than_successes() -> None:
    strategy = breaker(breaker={"type": "score"}, probe=0.0)
    fail(strategy, "a", 4)
    assert strategy.scores()["elimination"]["a"] == pytest.approx(0.95**4)
    assert first(strategy) == ("a", "b", "c")
    fail(strategy, "a", 1)
    assert first(strategy) == ("b", "c", "a")
    fail(strategy, "a", 1, code="00")  # 0.95 ** 5 * 1.0526 is above 0.8 again
    assert first(strategy) == ("a", "b", "c")


def test_the_score_floor_bounds_how_long_recovery_takes() -> None:
    strategy = breaker(breaker={"type": "score"}, probe=0.0)
    fail(strategy, "a", 40)
    assert strategy.scores()["elimination"]["a"] == 0.5  # the floor
    fail(strategy, "a", 9, code="00")  # 0.5 * 1.0526 ** 9 = 0.794
    assert first(strategy) == ("b", "c", "a")
    fail(strategy, "a", 1, code="00")  # the tenth: 0.836
    assert first(strategy) == ("a", "b", "c")
    fail(strategy, "a", 50, code="00")
    assert strategy.scores()["elimination"]["a"] == 1.0  # never above 1


def test_only_the_listed_failure_classes_trip_the_breaker() -> None:
    strategy = breaker(breaker=BUCKET, probe=0.0, failure_classes=["technical_error", "timeout"])
    fail(strategy, "a", 30, code="05")  # do not honour: not counted here
    fail(strategy, "a", 30, code="51")  # the card's own: never counted
    assert first(strategy) == ("a", "b", "c")
    fail(strategy, "a", 3, code="96")
    fail(strategy, "a", 2, code="68")
    assert first(strategy) == ("b", "c", "a")


def test_slow_approvals_count_as_failures_with_a_latency_threshold() -> None:
    strategy = breaker(breaker=BUCKET, probe=0.0, latency_threshold_ms=800.0)
    for latency in (800.0, 800.0, 900.0, 2_000.0, 1_000.0, 801.0):
        strategy.record(answer(strategy.order(pay(), ABC, 0.0), "a", "00", latency))
    assert strategy.scores()["elimination"] == {"a": 4.0}
    assert first(strategy) == ("a", "b", "c")


def test_probes_and_the_composed_propensity_are_exact() -> None:
    inner = {"type": "weighted", "weights": {"a": 1, "b": 1, "c": 2}}
    strategy = breaker(seed=3, inner=inner, breaker=BUCKET, probe=0.2)
    fail(strategy, "a", 5)
    means = assert_propensities_match(lambda: strategy.order(pay(), ABC, 1.0), 20_000, True)
    # a eliminated: probed 20 % of the time; b, c share the rest 1 : 2 as the inner split
    assert means == pytest.approx({"a": 0.2, "b": 0.8 / 3, "c": 1.6 / 3})
    probes = [strategy.order(pay(), ABC, 1.0) for _ in range(500)]
    assert all(d.explored == (d.acquirers[0] == "a") for d in probes)
    assert {d.acquirers[1:] for d in probes if d.acquirers[0] == "a"} <= {("b", "c"), ("c", "b")}


def test_a_rules_own_weights_survive_the_elimination() -> None:
    strategy = breaker(seed=6, inner={"type": "weighted"}, breaker=BUCKET, probe=0.0)
    weighted = rule("a", "b", "c", weights=(5.0, 1.0, 3.0))
    for _ in range(5):
        strategy.record(answer(strategy.order(pay(), weighted, 0.0), "a", "05"))
    means = assert_propensities_match(lambda: strategy.order(pay(), weighted, 0.0), 20_000, True)
    assert means == pytest.approx({"b": 0.25, "c": 0.75})


def test_two_eliminated_share_the_probes() -> None:
    strategy = breaker(seed=4, breaker=BUCKET, probe=0.3)
    fail(strategy, "a", 5)
    fail(strategy, "c", 5)
    means = assert_propensities_match(lambda: strategy.order(pay(), ABC, 1.0), 20_000, True)
    assert means == pytest.approx({"a": 0.15, "b": 0.7, "c": 0.15})
    tails = {strategy.order(pay(), ABC, 1.0).acquirers for _ in range(300)}
    assert tails == {("b", "a", "c"), ("a", "b", "c"), ("c", "b", "a")}


def test_with_every_candidate_eliminated_the_inner_strategy_orders_them_all() -> None:
    strategy = breaker(seed=5, inner={"type": "weighted", "weights": {"a": 3, "b": 1}})
    ab = rule("a", "b")
    for acquirer in ("a", "b"):
        for _ in range(5):
            strategy.record(answer(strategy.order(pay(), ab, 0.0), acquirer, "05"))
    means = assert_propensities_match(lambda: strategy.order(pay(), ab, 0.0), 10_000, True)
    assert means == pytest.approx({"a": 0.75, "b": 0.25})


def test_the_inner_strategy_learns_from_every_answer() -> None:
    strategy = breaker(inner={"type": "sr_window", "exploration": 0.0}, probe=0.0)
    fail(strategy, "a", 3)
    d = strategy.order(pay(), ABC, 0.0)
    assert d.segment == ("visa", False)  # the inner strategy's segment
    assert d.acquirers == ("b", "c", "a")  # sr_window moved a down before the breaker did
    assert strategy.scores()["visa/False"] == {"a": 122 / 125}
    assert strategy.scores()["elimination"] == pytest.approx({"a": 0.95**3})
    assert strategy.scores()["eliminated"] == {"a": 0.0}


def test_it_wraps_a_users_own_strategy(repo_root: Path) -> None:
    custom = {
        "type": "custom",
        "path": str(repo_root / "examples" / "fastest_first.py"),
        "class": "FastestFirst",
        "params": {"explore": 0.0},
    }
    strategy = breaker(inner=custom, breaker=BUCKET, probe=0.0)
    for acquirer, latency in (("a", 400.0), ("b", 100.0), ("c", 250.0)):
        d = strategy.order(pay(), ABC, 0.0)
        strategy.record(answer(d, acquirer, "00", latency))
    assert first(strategy) == ("b", "c", "a")  # the user's strategy learnt latencies
    fail(strategy, "b", 5, code="96")
    d: Ordering = strategy.order(pay(), ABC, 0.0)
    assert d.acquirers == ("c", "a", "b") and d.propensity == 1.0


def test_a_bucket_drains_to_empty_and_the_breaker_learns() -> None:
    strategy = breaker(breaker=BUCKET, probe=0.0)
    assert strategy.learns  # the engine feeds it answers only because it says so
    fail(strategy, "a", 5, at=0.0)
    first(strategy, 1_000.0)  # sixteen intervals later: every unit leaked, none below 0
    assert strategy.scores()["elimination"] == {"a": 0.0}
    fail(strategy, "a", 4, at=1_000.0)  # so four failures do not fill it again
    assert first(strategy, 1_000.0) == ("a", "b", "c")
    fail(strategy, "a", 1, at=1_000.0)
    assert first(strategy, 1_000.0) == ("b", "c", "a")


def test_without_probes_the_breaker_draws_nothing_from_the_routing_stream() -> None:
    """probe 0: the order is the inner strategy's on the stream the inner strategy alone
    consumes, as if the breaker were not there (common random numbers across policies)."""
    inner = {"type": "weighted", "weights": {"b": 1, "c": 1}}
    wrapped = breaker(seed=9, inner=inner, breaker=BUCKET, probe=0.0)
    plain = build(inner, seed=9)
    fail(wrapped, "a", 5)  # five orders while the bucket fills: five draws of the inner
    for _ in range(5):
        plain.order(pay(), ABC, 0.0)
    orders = [wrapped.order(pay(), ABC, 1.0).acquirers for _ in range(200)]
    assert all(o[-1] == "a" for o in orders)
    bc = rule("b", "c")
    assert [o[:2] for o in orders] == [plain.order(pay(), bc, 1.0).acquirers for _ in range(200)]
