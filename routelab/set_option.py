"""The ``--set PATH=VALUE`` option of ``simulate``, ``validate`` and ``loadtest``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from rich.markup import escape

from scenarios.loader import ScenarioError, load_scenario
from scenarios.overrides import OverrideError, apply, parse_override, single_point
from scenarios.schema import Scenario

SET_HELP = escape(  # the help is rich text: the brackets must stay brackets
    "Override a scenario field, e.g. --set policies[sr_window].strategy.window=50 "
    "or --set acquirers[acq_a].approval.base=0.9 (repeatable; the value is YAML)."
)
SetOption = Annotated[list[str] | None, typer.Option("--set", metavar="PATH=VALUE", help=SET_HELP)]


def load_with_overrides(path: str, overrides: Sequence[str]) -> Scenario:
    """The scenario file with each ``PATH=VALUE`` applied, validated like the file itself.

    Raises :class:`ScenarioError` (one line per problem, naming the file or the
    ``--set`` and the field path); each override takes one value here. A custom
    strategy's file and class are checked too.
    """
    try:
        point = single_point([parse_override(text) for text in overrides])
    except OverrideError as exc:
        raise ScenarioError(f"--set {exc.source}", exc.problems) from None
    from router.engine.registry import check_strategies

    scenario = load_scenario(path)
    if point:
        scenario = apply(scenario, point, path)
    check_strategies(scenario, path)  # a user's strategy file and class load, or exit 2
    return scenario
