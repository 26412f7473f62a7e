"""Routing strategies: how a rule's candidate acquirers are ordered for one payment.

The first acquirer of the order gets the first attempt; cascades follow the order. The
strategy API (:mod:`.api`) is what every strategy, built in or written by a user,
implements; each built-in strategy is a module of its own, and
:mod:`router.engine.registry` names them by their scenario ``type``:

- ``priority``, ``weighted`` (:mod:`.static`): the rule's order, a volume split;
- ``sr_window`` (:mod:`.sr_window`): the sliding-window success-rate reference design;
- ``thompson`` (:mod:`.thompson`), ``ucb`` (:mod:`.ucb`): bandits that forget;
- ``cost_aware`` (:mod:`.cost_aware`): approval probability against fees;
- ``hierarchical`` (:mod:`.hierarchical`): segments that fall back to coarser ones;
- ``elimination`` (:mod:`.elimination`): a circuit breaker around any of them.

What counts for or against an acquirer, and counts that forget, are in
:mod:`.evidence`; the counting strategies share :mod:`.learner`.
"""

from router.engine.strategies.api import (
    FAILURE,
    NEUTRAL,
    NO_SEGMENT,
    PROPENSITY_DRAWS,
    SUCCESS,
    AttemptResult,
    Ordering,
    Segment,
    Strategy,
    StrategyContext,
    acquirer_verdict,
    best_of_posterior,
    hedged,
    rank,
    segment_key,
    segment_label,
)
from router.engine.strategies.cost_aware import CostAware
from router.engine.strategies.elimination import Elimination
from router.engine.strategies.evidence import Attribution
from router.engine.strategies.hierarchical import Hierarchical
from router.engine.strategies.sr_window import SrWindow, SuccessWindow
from router.engine.strategies.static import Priority, Weighted
from router.engine.strategies.thompson import Thompson
from router.engine.strategies.ucb import Ucb

__all__ = [
    "FAILURE",
    "NEUTRAL",
    "NO_SEGMENT",
    "PROPENSITY_DRAWS",
    "SUCCESS",
    "AttemptResult",
    "Attribution",
    "CostAware",
    "Elimination",
    "Hierarchical",
    "Ordering",
    "Priority",
    "Segment",
    "SrWindow",
    "Strategy",
    "StrategyContext",
    "SuccessWindow",
    "Thompson",
    "Ucb",
    "Weighted",
    "acquirer_verdict",
    "best_of_posterior",
    "hedged",
    "rank",
    "segment_key",
    "segment_label",
]
