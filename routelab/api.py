"""routelab's public API: what a strategy file of your own and a notebook import.

Everything here is stable; everything else is routelab's own business and may change.
A strategy subclasses :class:`Strategy` and is named in a scenario as
``strategy: {type: custom, path: my_strategy.py, class: MyStrategy, params: {...}}``
(see ``examples/fastest_first.py``). ``tests/unit/test_public_api.py`` pins the names.
"""

from __future__ import annotations

from router.engine.rules import Candidates
from router.engine.strategies import (
    FAILURE,
    NEUTRAL,
    SUCCESS,
    AttemptResult,
    Attribution,
    Ordering,
    Segment,
    Strategy,
    StrategyContext,
    acquirer_verdict,
    best_of_posterior,
    rank,
    segment_key,
)
from scenarios.conditions import PaymentAttributes
from scenarios.loader import ScenarioError, load_scenario
from scenarios.taxonomy import CodeInfo, OutcomeClass, classify
from simulator import SimulationResult, simulate

__all__ = [
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
