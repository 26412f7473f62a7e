"""A sweep's plan: every point of the grid, built and validated before anything runs.

A point is a scenario (the base with the point's overrides applied, through the one
loader) and the policy that runs it. Every point runs with the same seed, so
replication ``r`` of every point sees the same payments and the same issuer and
acquirer draws (common random numbers): differences between points are paired.

The **baseline** is the point the others are compared with: the scenario as it is (its
own values of the swept fields), or the values ``--baseline`` gives. When the grid holds
a point with the same content it is that point; otherwise it runs as one more point.

Each point has a :attr:`SweepPoint.key`, the hash of what it runs (the scenario's
experiment and the policy's content, see :mod:`results.identity`, plus a custom
strategy file's content): a finished replication is stored under that key, the seed and
the replication's index, so a sweep started again, or a changed grid, runs only what
is missing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from results.identity import content_hash, policy_hash, scenario_hash
from scenarios.loader import ScenarioError
from scenarios.overrides import (
    GridMode,
    Override,
    Point,
    apply,
    build_grid,
    describe,
    expand,
    value_at,
)
from scenarios.schema import CustomStrategy, Scenario
from simulator.executors import scenario_key

POLICY = "policy"  # the column of the policy when a sweep runs several
_POLICY_PATH = re.compile(r"^policies\[([^\]]+)\]")
STORE_FORMAT = 1
BASELINE_LABEL = "baseline"
# how a sweep runs, not what a point is: every point runs the same seeds and replications
RUN_SETTINGS = {
    "seed": "every point runs the sweep's seeds (--seed)",
    "replications": "every point runs the sweep's replications (--replications)",
}


@dataclass(frozen=True)
class SweepPoint:
    """One point: the values it sets, the scenario they make and the policy that runs it."""

    label: str  # p000, p001, ... in grid order; "baseline" for a baseline off the grid
    values: dict[str, Any]  # path -> value as given (the policy under POLICY when swept)
    policy: str
    scenario: Scenario = field(repr=False)
    key: str = ""  # what runs (see the module docstring)
    executor_key: str = ""  # the scenario's key in an executor's table
    baseline: bool = False
    in_grid: bool = True

    def task_key(self, seed: int, replication: int) -> str:
        """The key replication ``replication`` of this point with ``seed`` is stored by."""
        return content_hash(
            {
                "format": STORE_FORMAT,
                "routelab": _VERSION,
                "point": self.key,
                "seed": seed,
                "replication": replication,
            }
        )

    @property
    def text(self) -> str:
        """The point as one line, e.g. ``policies[sr_window].strategy.window=50``."""
        return describe(self.values) or "(the scenario as it is)"


def _strategy_file_digest(scenario: Scenario, policy: str) -> str | None:
    config = scenario.policy(policy).strategy
    if not isinstance(config, CustomStrategy):
        return None
    try:
        return hashlib.sha256(Path(config.path).read_bytes()).hexdigest()
    except OSError:
        return None  # the loader checked it exists; a run will say what is wrong


def point_key(scenario: Scenario, policy: str) -> str:
    """The hash of what a point runs: the experiment, the policy's content, its code."""
    return content_hash(
        {
            "scenario": scenario_hash(scenario),
            "policy": policy_hash(scenario.policy(policy)),
            "strategy_file": _strategy_file_digest(scenario, policy),
        }
    )


def make_point(
    label: str,
    values: Mapping[str, Any],
    scenario: Scenario,
    policy: str,
    baseline: bool = False,
    in_grid: bool = True,
) -> SweepPoint:
    """A point, keyed (``policy`` must be one of ``scenario``'s)."""
    return SweepPoint(
        label=label,
        values=dict(values),
        policy=policy,
        scenario=scenario,
        key=point_key(scenario, policy),
        executor_key=scenario_key(scenario),
        baseline=baseline,
        in_grid=in_grid,
    )


@dataclass(frozen=True)
class SweepPlan:
    """Every point of a sweep, the baseline among them, and how each point runs."""

    source: str  # the scenario file as named by the user
    base: Scenario = field(repr=False)
    parameters: list[str]  # the swept paths, then POLICY when several policies run
    points: list[SweepPoint]  # the grid in order, then the baseline if it is off the grid
    baseline: SweepPoint
    seed: int
    replications: int
    mode: GridMode
    baseline_given: bool = False  # by --baseline; else the scenario's own values

    @property
    def grid(self) -> list[SweepPoint]:
        return [p for p in self.points if p.in_grid]

    @property
    def tasks(self) -> int:
        return len(self.points) * self.replications


def _check_policies(scenarios: Sequence[Scenario], policies: Sequence[str], source: str) -> None:
    problems: list[tuple[str, str]] = []
    for name in policies:
        if any(name not in {p.name for p in s.policies} for s in scenarios):
            known = ", ".join(p.name for p in scenarios[0].policies)
            problems.append(("policies", f"no policy named {name!r} (policies: {known})"))
    if problems:
        raise ScenarioError(source, problems)


def plan_sweep(
    base: Scenario,
    source: str,
    overrides: Sequence[Override],
    *,
    mode: GridMode = "product",
    policies: Sequence[str] = (),
    seed: int | None = None,
    replications: int | None = None,
    baseline: Mapping[str, Any] | None = None,
) -> SweepPlan:
    """Build and validate every point of the grid ``overrides`` describe.

    Raises :class:`~scenarios.overrides.OverrideError` for a malformed grid and
    :class:`ScenarioError` naming ``source`` and the path of every problem of any point
    (including the baseline), before anything runs.
    """
    for override in overrides:
        if override.path in RUN_SETTINGS:
            raise ScenarioError(
                source,
                [(override.path, f"{RUN_SETTINGS[override.path]}: not a field to sweep")],
            )
    values = expand(overrides, mode)
    scenarios = build_grid(base, values, source)
    names = list(policies) or [policy_of(base, [o.path for o in overrides])]
    if len(set(names)) != len(names):
        raise ScenarioError(source, [("policies", "a policy is named twice")])
    _check_policies(scenarios, names, source)
    swept = [o.path for o in overrides]
    chosen = dict(baseline or {})
    unknown = [path for path in chosen if path not in swept]
    if unknown:
        varied = ", ".join(swept) or "none"
        raise ScenarioError(
            source,
            [
                (path, f"--baseline sets a field the sweep does not vary ({varied})")
                for path in unknown
            ],
        )
    baseline_scenario = apply(base, chosen, source) if chosen else base
    _check_policies([baseline_scenario], names[:1], source)

    points: list[SweepPoint] = []
    for values_at, scenario in zip(values, scenarios, strict=True):
        for name in names:
            shown = {**values_at, POLICY: name} if len(names) > 1 else dict(values_at)
            points.append(make_point(f"p{len(points):03d}", shown, scenario, name))
    _check_distinct(points, source)
    wanted = point_key(baseline_scenario, names[0])
    found = next((i for i, p in enumerate(points) if p.key == wanted), None)
    if found is not None:
        point = points[found]
        points[found] = make_point(point.label, point.values, point.scenario, point.policy, True)
        chosen_point = points[found]
    else:
        shown = {path: _own_value(baseline_scenario, path, source) for path in swept}
        if len(names) > 1:
            shown[POLICY] = names[0]
        chosen_point = make_point(
            BASELINE_LABEL, shown, baseline_scenario, names[0], baseline=True, in_grid=False
        )
        points.append(chosen_point)
    return SweepPlan(
        source=source,
        base=base,
        parameters=swept + ([POLICY] if len(names) > 1 else []),
        points=points,
        baseline=chosen_point,
        seed=base.seed if seed is None else seed,
        replications=base.replications if replications is None else replications,
        mode=mode,
        baseline_given=bool(chosen),
    )


def policy_of(base: Scenario, paths: Sequence[str], chosen: str | None = None) -> str:
    """The policy to run: ``chosen``, else the one policy every path names
    (``policies[NAME]...`` or ``policies[INDEX]...``), else the scenario's first."""
    if chosen is not None:
        return chosen
    names = set()
    for path in paths:
        found = _POLICY_PATH.match(path)
        if found is None:
            return base.policies[0].name
        key = found.group(1).strip()
        if key.lstrip("-").isdigit() and -len(base.policies) <= int(key) < len(base.policies):
            names.add(base.policies[int(key)].name)
        else:
            names.add(key)
    return names.pop() if len(names) == 1 else base.policies[0].name


def _check_distinct(points: Sequence[SweepPoint], source: str) -> None:
    """Two points that run the same thing mean a swept field the policy does not use."""
    seen: dict[str, SweepPoint] = {}
    for point in points:
        twin = seen.setdefault(point.key, point)
        if twin is not point:
            raise ScenarioError(
                source,
                [
                    (
                        "",
                        f"points {twin.label} ({twin.text}) and {point.label} ({point.text}) run "
                        f"the same experiment under policy {point.policy}: a swept field does "
                        "not change what it runs (choose the policy with --policy)",
                    )
                ],
            )


def _own_value(scenario: Scenario, path: str, source: str) -> Any:
    """The scenario's own value at ``path``; None where the field is unset."""
    try:
        return value_at(scenario, path, source)
    except ScenarioError:
        return None


_VERSION = importlib.metadata.version("routelab")

__all__ = [
    "POLICY",
    "Point",
    "SweepPlan",
    "SweepPoint",
    "make_point",
    "plan_sweep",
    "point_key",
    "policy_of",
]
