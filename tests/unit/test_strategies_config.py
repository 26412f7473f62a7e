"""The strategies in the scenario format: every type registered, reference defaults pinned,
bad parameters refused with one clear line naming the field."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from router.engine import RoutingEngine
from router.engine.registry import STRATEGIES, WRAPPERS, check_strategies
from scenarios.loader import BUNDLED_DIR, ScenarioError, load_scenario, validate_scenario
from scenarios.schema import (
    CostAwareStrategy,
    EliminationStrategy,
    FeeSchedule,
    HierarchicalStrategy,
    LeakyBucket,
    ScoreBreaker,
    SrWindowStrategy,
    Strategy,
    ThompsonStrategy,
    UcbStrategy,
    WindowApproval,
)

ALL_FAILURES = ["soft_decline", "hard_decline", "technical_error", "timeout"]


def strategy_types() -> set[str]:
    union = typing.get_args(typing.get_args(Strategy)[0])
    return {typing.get_args(model.model_fields["type"].annotation)[0] for model in union}


def test_every_strategy_type_is_registered_once() -> None:
    assert strategy_types() == set(STRATEGIES) | set(WRAPPERS) | {"custom"}
    assert not set(STRATEGIES) & set(WRAPPERS)
    assert set(STRATEGIES) == {
        "priority",
        "weighted",
        "sr_window",
        "thompson",
        "ucb",
        "cost_aware",
        "hierarchical",
        "oracle",
    }
    assert set(WRAPPERS) == {"elimination", "sticky"}


def test_reference_and_documented_defaults() -> None:
    sr = SrWindowStrategy.model_validate({"type": "sr_window"})
    assert (sr.window, sr.exploration, sr.reset_sigma, sr.score) == (125, 0.05, 3.0, "window")
    assert (sr.segment_by, sr.failure_classes, sr.latency_threshold_ms) == (
        ["network", "cross_border"],
        ALL_FAILURES,
        None,
    )
    th = ThompsonStrategy.model_validate({"type": "thompson"})
    assert (th.memory.discount, th.memory.window) == (0.995, None)
    assert (th.prior.successes, th.prior.failures) == (1.0, 1.0)
    ucb = UcbStrategy.model_validate({"type": "ucb"})
    assert (ucb.c, ucb.memory.discount) == (0.1, 0.995)
    cost = CostAwareStrategy.model_validate({"type": "cost_aware"})
    assert (cost.objective, cost.lambda_pp_per_bps, cost.exploration) == ("expected_value", 0, 0.05)
    assert cost.approval == WindowApproval(type="window", window=125, reset_sigma=3.0)
    hi = HierarchicalStrategy.model_validate({"type": "hierarchical"})
    assert hi.levels == [
        ["network", "issuer_country", "card_type"],
        ["network", "cross_border"],
        [],
    ]
    assert (hi.min_observations, hi.score, hi.exploration) == (100.0, "thompson", 0.0)
    assert hi.memory.discount == 0.998
    el = EliminationStrategy.model_validate({"type": "elimination", "inner": {"type": "ucb"}})
    assert el.probe == 0.02 and isinstance(el.inner, UcbStrategy)
    assert el.breaker == ScoreBreaker(
        type="score", failure_factor=0.95, success_factor=1.0526, threshold=0.8, floor=0.5
    )
    assert LeakyBucket(type="leaky_bucket") == LeakyBucket(
        type="leaky_bucket", size=5, leak_interval_s=60.0
    )


def with_strategy(data: dict[str, Any], strategy: dict[str, Any]) -> dict[str, Any]:
    data["policies"][2]["strategy"] = strategy
    return data


@pytest.mark.parametrize(
    ("strategy", "path", "fragment"),
    [
        (
            {"type": "thompson", "memory": {"discount": 0.9, "window": 100}},
            "policies[2].strategy.memory",
            "set exactly one of discount or window",
        ),
        (
            {"type": "ucb", "memory": {"discount": 1.5}},
            "policies[2].strategy.memory.discount",
            "less than or equal to 1",
        ),
        (
            {"type": "cost_aware", "lambda_pp_per_bps": 0.1},
            "policies[2].strategy.lambda_pp_per_bps",
            "is used only with objective: auth_rate_minus_cost",
        ),
        (
            {"type": "cost_aware", "approval": {"type": "bayes"}},
            "policies[2].strategy.approval.type",
            "unknown kind 'bayes'",
        ),
        (
            {
                "type": "elimination",
                "inner": {"type": "priority"},
                "breaker": {"type": "score", "floor": 0.9},
            },
            "policies[2].strategy.breaker.floor",
            "must be below threshold (0.8)",
        ),
        (
            {"type": "elimination", "inner": {"type": "sr_windw"}},
            "policies[2].strategy.inner.type",
            "unknown kind 'sr_windw'",
        ),
        (
            {"type": "elimination", "inner": {"type": "thompson", "prior": {"successes": 0}}},
            "policies[2].strategy.inner.prior.successes",
            "greater than 0",
        ),
        (
            {"type": "thompson", "failure_classes": ["approved"]},
            "policies[2].strategy.failure_classes[0]",
            "Input should be",
        ),
        (
            {
                "type": "elimination",
                "inner": {"type": "weighted", "weights": {"nope": 1, "acq_a": 1}},
            },
            "policies[2].strategy.inner.weights.nope",
            "unknown acquirer 'nope'",
        ),
    ],
)
def test_bad_parameters_give_one_clear_line(
    baseline_data: dict[str, Any], strategy: dict[str, Any], path: str, fragment: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(with_strategy(baseline_data, strategy), "baseline.yaml")
    lines = str(caught.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"baseline.yaml: {path}: "), lines[0]
    assert fragment in lines[0]


def test_a_custom_strategy_inside_elimination_is_checked_with_its_path(
    baseline_data: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "mine.py").write_text("class Other:\n    pass\n")
    inner = {"type": "custom", "path": str(tmp_path / "mine.py"), "class": "Mine"}
    scenario = validate_scenario(
        with_strategy(baseline_data, {"type": "elimination", "inner": inner}), "baseline.yaml"
    )
    with pytest.raises(ScenarioError) as caught:
        check_strategies(scenario, "baseline.yaml")
    assert str(caught.value) == (
        "baseline.yaml: policies[2].strategy.inner.class: mine.py has no class 'Mine' "
        "(classes in it: Other)"
    )


@pytest.mark.parametrize(
    "strategy",
    [
        {"type": "thompson"},
        {"type": "ucb", "memory": {"window": 500}},
        {"type": "cost_aware", "objective": "auth_rate_minus_cost", "lambda_pp_per_bps": 0.05},
        {"type": "hierarchical", "levels": [["network", "bin4"], []]},
        {
            "type": "elimination",
            "inner": {"type": "sr_window"},
            "breaker": {"type": "leaky_bucket"},
        },
        {"type": "elimination", "inner": {"type": "elimination", "inner": {"type": "thompson"}}},
    ],
)
def test_every_new_strategy_loads_into_an_engine_that_learns(
    baseline_data: dict[str, Any], strategy: dict[str, Any]
) -> None:
    scenario = validate_scenario(with_strategy(baseline_data, strategy), "baseline.yaml")
    engine = RoutingEngine(
        scenario.policies[2],
        np.random.default_rng(1),
        acquirers=tuple(scenario.acquirer_names),
        fees=FeeSchedule(scenario.acquirers),
    )
    assert engine.learns


def test_the_readme_table_lists_every_strategy(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Routing strategies", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `type` |")  # the header
    assert {row.split("`")[1] for row in rows[1:]} == strategy_types()


def test_every_strategy_runs_in_a_bundled_scenario() -> None:
    used: set[str] = set()
    for path in BUNDLED_DIR.glob("*.yaml"):
        for policy in load_scenario(path).policies:
            config: Any = policy.strategy
            used.add(config.type)
            while config.type in WRAPPERS:
                config = config.inner
                used.add(config.type)
    # the oracle is no policy of a scenario: every simulation runs it beside the policies
    assert used >= strategy_types() - {"custom", "oracle"}
