"""The tournament: every shipped strategy on every bundled scenario, on the same seeds.

The entrants are the strategies the bundled scenarios ship, read from their policies:
every distinct strategy section whose ``type`` (and, for a strategy that wraps another,
its inner one's) is registered in the engine (``router.engine.registry``), the oracle
and users' own classes left out. A strategy added to the registry and to a bundled
scenario's policies joins the tournament with nothing else to change. An entrant is
named after the first policy that ships it; a different section under a name already
taken is named ``name@scenario``.

On each scenario, an entrant runs with the scenario's own routing set-up (the rules,
default order and retry policy of its first policy that offers every acquirer), so the
strategies differ in nothing else; every entrant uses the scenario's seed and
replication count (common random numbers: replication ``r`` of every entrant meets the
same payments), and the oracle runs once per scenario on the same seeds. An entrant
that does not fit a scenario (a volume split naming acquirers it does not have) sits
that scenario out, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from results.contract import RunSummary
from results.identity import content_hash
from router.engine import registry
from scenarios.loader import ScenarioError, validate_scenario
from scenarios.schema import RoutingPolicy, Scenario
from simulator.executors import Executor
from simulator.run import simulate
from simulator.yardsticks import ORACLE_POLICY, OracleRuns

NOT_ENTRANTS = frozenset({"oracle", "custom"})


@dataclass(frozen=True)
class Entrant:
    """One strategy section, as the tournament runs it."""

    name: str
    strategy: Any  # a scenario strategy section (scenarios.policy.Strategy)
    shipped_by: str  # the scenario whose policy it comes from


@dataclass(frozen=True)
class Match:
    """One entrant on one scenario: its summary, or why it sat the scenario out."""

    scenario: str
    entrant: str
    summary: RunSummary | None
    sat_out: str = ""


def registered_types() -> frozenset[str]:
    """Strategy types the engine knows (wrapping ones too, once the registry has them)."""
    wrappers: dict[str, Any] = getattr(registry, "WRAPPERS", {})
    return frozenset(registry.STRATEGIES) | frozenset(wrappers)


def _runs_here(strategy: Any, types: frozenset[str]) -> bool:
    while strategy is not None:
        if strategy.type in NOT_ENTRANTS or strategy.type not in types:
            return False
        strategy = getattr(strategy, "inner", None)
    return True


def entrants(scenarios: Iterable[Scenario], types: frozenset[str] | None = None) -> list[Entrant]:
    """The distinct registered strategies of the scenarios' policies, in order of appearance."""
    types = registered_types() if types is None else types
    found: list[Entrant] = []
    seen: set[str] = set()
    names: set[str] = set()
    for scenario in scenarios:
        for policy in scenario.policies:
            if not _runs_here(policy.strategy, types):
                continue
            key = content_hash(policy.strategy.model_dump(mode="json", by_alias=True))
            if key in seen:
                continue
            seen.add(key)
            name = policy.name if policy.name not in names else f"{policy.name}@{scenario.name}"
            names.add(name)
            found.append(Entrant(name, policy.strategy, scenario.name))
    return found


def template(scenario: Scenario) -> RoutingPolicy:
    """The scenario's routing set-up for the tournament: its first policy whose default
    list names every acquirer (so a strategy has them all to choose from), else its
    first policy."""
    everyone = set(scenario.acquirer_names)
    for policy in scenario.policies:
        if set(policy.default) == everyone:
            return policy
    return scenario.policies[0]


def entrant_policy(scenario: Scenario, entrant: Entrant) -> RoutingPolicy:
    """The entrant's strategy in the scenario's own routing set-up (:func:`template`)."""
    base = template(scenario)
    return base.model_copy(
        update={
            "name": entrant.name.replace("@", "-at-"),
            "description": f"{entrant.name} (from {entrant.shipped_by}) in {base.name}'s set-up",
            "strategy": entrant.strategy,
        }
    )


def _with_policy(scenario: Scenario, policy: RoutingPolicy) -> Scenario | str:
    """The scenario with the policy added, or why the policy does not fit it."""
    data = scenario.model_dump(mode="python", by_alias=True)
    data["policies"] = [policy.model_dump(mode="python", by_alias=True)]
    try:
        return validate_scenario(data, scenario.name)
    except ScenarioError as exc:
        field, problem = exc.problems[0]
        return f"{field.removeprefix('policies[0].')}: {problem}"


Progress = Callable[[str, str], None]  # (scenario, entrant) as each match starts


def play(
    scenarios: Sequence[Scenario],
    roster: Sequence[Entrant],
    *,
    replications: int | None = None,
    progress: Progress | None = None,
    names: Sequence[str] | None = None,
    executor: Executor | None = None,
) -> list[Match]:
    """Every entrant on every scenario, with the oracle on the same seeds; ``names``
    names the scenarios in the matches (default: their own names). Each match's
    replications (and the oracle's, the first time a set-up needs it) run on
    ``executor`` (default: one after another here); the figures are the same."""
    matches: list[Match] = []
    for k, scenario in enumerate(scenarios):
        name = names[k] if names is not None else scenario.name
        oracle = OracleRuns()
        for entrant in roster:
            if progress is not None:
                progress(name, entrant.name)
            policy = entrant_policy(scenario, entrant)
            fitted = _with_policy(scenario, policy)
            if isinstance(fitted, str):
                matches.append(Match(name, entrant.name, None, fitted))
                continue
            result = simulate(
                fitted, policy.name, replications=replications, oracle=oracle, executor=executor
            )
            summary = result.summary.model_copy(update={"policy": entrant.name})
            matches.append(Match(name, entrant.name, summary))
    return matches


__all__ = [
    "ORACLE_POLICY",
    "Entrant",
    "Match",
    "entrant_policy",
    "entrants",
    "play",
    "registered_types",
    "template",
]
