"""Pure routing: rules, strategies, the payment lifecycle and the retry policy.

The decline vocabulary the engine speaks lives in :mod:`scenarios.taxonomy`, where every
layer can import it.
"""

from router.engine.engine import Decision, RoutingEngine
from router.engine.flow import PaymentFlow
from router.engine.strategies import AttemptResult, Ordering, Strategy, StrategyContext
from scenarios.taxonomy import CODES, CodeInfo, OutcomeClass, classify

__all__ = [
    "CODES",
    "AttemptResult",
    "CodeInfo",
    "Decision",
    "Ordering",
    "OutcomeClass",
    "PaymentFlow",
    "RoutingEngine",
    "Strategy",
    "StrategyContext",
    "classify",
]
