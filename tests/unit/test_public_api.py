"""routelab.api is the stable surface a user's strategy file and a notebook import: its
names are pinned, and a strategy written against it runs in the engine."""

from __future__ import annotations

import numpy as np

from routelab import api
from router.engine.rules import Candidates
from scenarios.sampler import Payment
from scenarios.streams import UniformStream

PINNED = [
    "FAILURE",
    "NEUTRAL",
    "SUCCESS",
    "AttemptResult",
    "Attribution",
    "Candidates",
    "CodeInfo",
    "Ordering",
    "OutcomeClass",
    "PaymentAttributes",
    "ScenarioError",
    "Segment",
    "SimulationResult",
    "Strategy",
    "StrategyContext",
    "acquirer_verdict",
    "best_of_posterior",
    "classify",
    "load_scenario",
    "rank",
    "segment_key",
    "simulate",
]


def test_the_exported_names_are_pinned() -> None:
    assert api.__all__ == PINNED
    assert all(hasattr(api, name) for name in PINNED)


class FewestFailures(api.Strategy):
    """A user's strategy: the acquirer with the fewest technical failures first."""

    learns = True

    def __init__(self, params: object, context: api.StrategyContext) -> None:
        self.attribution = api.Attribution(["technical_error", "timeout"], None)
        self.failures: dict[str, int] = {}

    def order(
        self, payment: api.PaymentAttributes, candidates: Candidates, now: float
    ) -> api.Ordering:
        acquirers = candidates.acquirers
        ranked = api.rank(acquirers, [-self.failures.get(a, 0) for a in acquirers])
        return api.Ordering(candidates.rule, ranked, (), ranked[0], False, 1.0)

    def record(self, result: api.AttemptResult) -> None:
        if self.attribution.verdict(result) == api.FAILURE:
            self.failures[result.acquirer] = self.failures.get(result.acquirer, 0) + 1


def test_a_strategy_written_against_the_api_learns_by_decline_class() -> None:
    context = api.StrategyContext(UniformStream(np.random.default_rng(1)), ("a", "b"))
    strategy = FewestFailures({}, context)
    candidates = Candidates("r", ("a", "b"), None)
    card = Payment(1_000, "EUR", "visa", "credit", "DE", "411111", False)
    decision = strategy.order(card, candidates, 0.0)
    for code in ("05", "51", "96"):  # only the system malfunction is a technical failure
        info = api.classify(code)
        strategy.record(
            api.AttemptResult(decision, "a", code, info.outcome, info.acquirer_side, 1.0, 0.0, 0.0)
        )
    assert strategy.failures == {"a": 1}
    assert strategy.order(card, candidates, 0.0).acquirers == ("b", "a")
    p = api.best_of_posterior(context.estimator(), [50.0, 1.0], [1.0, 50.0], 0)
    assert p == 1.0


def test_the_shapes_a_strategy_author_relies_on() -> None:
    assert api.Ordering._fields == (
        "rule",
        "acquirers",
        "segment",
        "preferred",
        "explored",
        "propensity",
    )
    assert api.AttemptResult._fields == (
        "decision",
        "acquirer",
        "code",
        "outcome",
        "acquirer_side",
        "latency_ms",
        "fee",
        "at",
        "card",
    )
    assert (api.SUCCESS, api.FAILURE, api.NEUTRAL) == (1, 0, -1)
    assert {m for m in ("order", "record", "scores") if hasattr(api.Strategy, m)} == {
        "order",
        "record",
        "scores",
    }
