"""Pure routing decisions: rules, strategies, retry policy and the decline taxonomy."""

from router.engine.engine import Decision, RoutingEngine
from router.engine.taxonomy import CODES, CodeInfo, OutcomeClass, classify

__all__ = ["CODES", "CodeInfo", "Decision", "OutcomeClass", "RoutingEngine", "classify"]
