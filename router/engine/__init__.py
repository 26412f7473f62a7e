"""Pure routing decisions: rules, strategies, retry policy and the decline taxonomy."""

from router.engine.engine import Decision, RoutingEngine
from scenarios.taxonomy import CODES, CodeInfo, OutcomeClass, classify

__all__ = ["CODES", "CodeInfo", "Decision", "OutcomeClass", "RoutingEngine", "classify"]
