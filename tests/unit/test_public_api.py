"""The public API a user's strategy file imports: its names are a promise, pinned here."""

from __future__ import annotations

from routelab import api

PUBLIC = {
    "FAILURE",
    "NEUTRAL",
    "SUCCESS",
    "AttemptResult",
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
    "classify",
    "load_scenario",
    "rank",
    "segment_key",
    "simulate",
}


def test_the_public_names_are_exactly_these() -> None:
    assert set(api.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(api, name) is not None, name


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
