"""RoutingEngine.learns tells callers whether feedback can change later decisions."""

from __future__ import annotations

import numpy as np

from router.engine import AttemptResult, RoutingEngine, classify
from scenarios.sampler import Payment
from scenarios.schema import Scenario

CARD = Payment(5_000, "EUR", "visa", "credit", "DE", "411111", False)


def test_only_success_rate_routing_learns(baseline: Scenario) -> None:
    learns = {
        policy.name: RoutingEngine(policy, np.random.default_rng(1)).learns
        for policy in baseline.policies
    }
    assert learns == {"priority": False, "weighted": False, "sr_window": True}


def test_a_learning_engine_changes_its_mind_after_feedback(baseline: Scenario) -> None:
    engine = RoutingEngine(baseline.policy("sr_window"), np.random.default_rng(1))
    first = engine.decide(CARD, 0.0)
    for _ in range(60):  # the preferred acquirer keeps failing on the acquirer side
        info = classify("05")
        engine.record(
            AttemptResult(
                first, first.preferred, "05", info.outcome, info.acquirer_side, 200.0, 0.0, 1.0
            )
        )
    assert engine.decide(CARD, 2.0).preferred != first.preferred
