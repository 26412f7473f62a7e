"""Strategies written by users: loaded from their own file, run in the simulator, and a
bad path, class or API is one line and exit 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from router.engine import RoutingEngine
from router.engine.errors import StrategyError
from router.engine.registry import check_strategies
from scenarios.loader import ScenarioError, load_scenario, parse_scenario
from scenarios.sampler import Payment
from simulator import simulate
from tests.unit.test_cli import assert_no_traceback, run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "custom_strategy.yaml"
CARD = Payment(4_000, "EUR", "visa", "credit", "DE", "411111", False)


def scenario_with(tmp_path: Path, strategy: str, source: str | None = None) -> Path:
    """The example scenario copied next to a strategy file, with ``strategy`` in it."""
    if source is not None:
        (tmp_path / "mine.py").write_text(textwrap.dedent(source), encoding="utf-8")
    text = EXAMPLE.read_text(encoding="utf-8")
    start = text.index("    strategy:\n      type: custom")
    end = text.index("    default:", start)
    path = tmp_path / "scenario.yaml"
    path.write_text(text[:start] + f"    strategy: {strategy}\n" + text[end:], encoding="utf-8")
    return path


def test_the_example_strategy_learns_in_the_simulator() -> None:
    scenario = load_scenario(EXAMPLE)
    check_strategies(scenario, str(EXAMPLE))
    priority = simulate(scenario, "priority", replications=2).summary
    fastest = simulate(scenario, "fastest_first", replications=2).summary
    # it measured the acquirers and moved the traffic to the fastest one
    assert priority.acquirer_share["acq_slow"] == 1.0
    assert fastest.acquirer_share["acq_fast"] > 0.85
    assert fastest.latency_ms.p50 is not None and priority.latency_ms.p50 is not None
    assert fastest.latency_ms.p50 < 0.5 * priority.latency_ms.p50


def test_the_path_is_read_from_the_scenarios_folder(tmp_path: Path) -> None:
    path = scenario_with(
        tmp_path,
        "{type: custom, path: mine.py, class: Mine, params: {first: acq_mid}}",
        """
        from routelab.api import Ordering, Strategy

        class Mine(Strategy):
            def __init__(self, params, context):
                self.first = params["first"]

            def order(self, payment, candidates, now):
                rest = tuple(a for a in candidates.acquirers if a != self.first)
                return Ordering(candidates.rule, (self.first, *rest), (), self.first, False, 1.0)
        """,
    )
    scenario = load_scenario(path)
    config = scenario.policy("fastest_first").strategy
    assert config.path == str(tmp_path / "mine.py")  # type: ignore[union-attr]
    engine = RoutingEngine(scenario.policy("fastest_first"), np.random.default_rng(1))
    decision = engine.decide(CARD, 0.0)
    assert decision.acquirers == ("acq_mid", "acq_slow", "acq_fast")
    assert not engine.learns  # record() not overridden, learns not set


@pytest.mark.parametrize(
    ("strategy", "source", "field", "problem"),
    [
        (
            "{type: custom, path: nowhere.py, class: Mine}",
            None,
            "policies[1].strategy.path",
            "no such file",
        ),
        (
            "{type: custom, path: mine.py, class: Other}",
            "from routelab.api import Strategy\nclass Mine(Strategy):\n    pass\n",
            "policies[1].strategy.class",
            "mine.py has no class 'Other' (classes in it: Mine)",
        ),
        (
            "{type: custom, path: mine.py, class: Mine}",
            "class Mine:\n    def order(self, payment, candidates, now): ...\n",
            "policies[1].strategy.class",
            "Mine does not implement the strategy API",
        ),
        (
            "{type: custom, path: mine.py, class: Mine}",
            "from routelab.api import Strategy\nclass Mine(Strategy):\n    pass\n",
            "policies[1].strategy.class",
            "Mine does not implement order(payment, candidates, now)",
        ),
        (
            "{type: custom, path: mine.py, class: Mine}",
            "def broken(:\n",
            "policies[1].strategy.path",
            "importing mine.py failed: syntax error at line 1",
        ),
        (
            "{type: custom, path: mine.py, class: Mine, params: {x: 1}}",
            "from routelab.api import Strategy\n"
            "class Mine(Strategy):\n"
            "    def __init__(self, params, context):\n"
            "        raise KeyError('window')\n"
            "    def order(self, payment, candidates, now): ...\n",
            "policies[1].strategy.params",
            "Mine({'x': 1}) failed: KeyError",
        ),
    ],
)
def test_a_bad_strategy_is_one_line_and_exit_2(
    tmp_path: Path, strategy: str, source: str | None, field: str, problem: str
) -> None:
    path = scenario_with(tmp_path, strategy, source)
    for command in ("validate", "simulate"):
        result = run_cli(command, path, "--policy", "fastest_first", cwd=tmp_path)
        if command == "validate":
            result = run_cli("validate", path, cwd=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert_no_traceback(result)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert f"{path}: {field}: " in lines[0] and problem in lines[0], lines[0]


def test_a_class_failing_in_its_constructor_fails_when_the_engine_is_built(
    tmp_path: Path,
) -> None:
    source = (
        "from routelab.api import Strategy\n"
        "class Mine(Strategy):\n"
        "    def __init__(self, params, context):\n"
        "        raise ValueError('no')\n"
        "    def order(self, payment, candidates, now): ...\n"
    )
    path = scenario_with(tmp_path, "{type: custom, path: mine.py, class: Mine}", source)
    scenario = load_scenario(path)
    with pytest.raises(StrategyError, match=r"strategy\.params: Mine\(\{\}\) failed: ValueError"):
        RoutingEngine(scenario.policy("fastest_first"), np.random.default_rng(1))


def test_a_custom_strategy_without_a_scenario_file_reads_paths_from_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    monkeypatch.chdir(ROOT / "examples")
    scenario = parse_scenario(text)
    assert scenario.policy("fastest_first").strategy.path == str(  # type: ignore[union-attr]
        ROOT / "examples" / "fastest_first.py"
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError, match="no such file"):
        parse_scenario(text)
