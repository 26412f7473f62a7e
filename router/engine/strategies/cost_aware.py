"""Cost-aware routing: P(approve) from a learning score, fees from the scenario's schedule.

Both objectives (see ``CostAwareStrategy``) are linear in each candidate's approval
probability p: score = p * scale + offset, with scale and offset from the candidate's
fees for this payment's amount and network. p is a success window's rate (``approval:
{type: window}``, sr_window's score) or a Beta posterior's mean (deterministic order,
hedging aside: exact propensity) or draw (``score: thompson``: the first choice's
probability is estimated by Monte Carlo over the same linear scores).
"""

from __future__ import annotations

from router.engine.rules import Candidates
from router.engine.strategies.api import (
    NEUTRAL,
    SUCCESS,
    AttemptResult,
    Ordering,
    StrategyContext,
    hedged,
    rank,
    segment_key,
)
from router.engine.strategies.learner import CountingStrategy
from router.engine.strategies.sr_window import WindowBook
from scenarios.conditions import PaymentAttributes
from scenarios.fees import attempt_fee
from scenarios.schema import (
    BetaApproval,
    CostAwareStrategy,
    Fee,
    FeeSchedule,
    Memory,
    WindowApproval,
)

BPS = 10_000.0


def _terms(fee: Fee | None) -> tuple[float, float, float]:
    """A fee schedule's (pct_bps, fixed, per_attempt); an unknown acquirer costs nothing."""
    return (0.0, 0.0, 0.0) if fee is None else (fee.pct_bps, fee.fixed, fee.per_attempt)


class CostAware(CountingStrategy):
    """Expected-value or penalised-cost routing (see CostAwareStrategy)."""

    def __init__(self, config: CostAwareStrategy, context: StrategyContext) -> None:
        approval = config.approval
        beta = approval if isinstance(approval, BetaApproval) else None
        super().__init__(
            config,
            context,
            beta.memory if beta is not None else Memory(discount=1.0),
            beta.prior if beta is not None else None,
        )
        if context.fees is None:
            raise ValueError("strategy cost_aware needs the acquirers' fee schedule (fees=)")
        self.config = config
        self._fees: FeeSchedule = context.fees
        self._book = (
            WindowBook(approval.window, approval.reset_sigma)
            if isinstance(approval, WindowApproval)
            else None
        )
        self._segment_of = segment_key(list(config.segment_by))
        self._expected_value = config.objective == "expected_value"
        self._lambda = config.lambda_pp_per_bps
        self._sample = beta is not None and beta.score == "thompson"
        self._exploration = config.exploration
        # per (rule, network): each candidate's (pct_bps, fixed, per_attempt)
        self._schedules: dict[tuple[Candidates, str], list[tuple[float, float, float]]] = {}
        self._no_counts = self._new_counts()  # stands in when the window book scores

    def objective(
        self, candidates: Candidates, payment: PaymentAttributes
    ) -> tuple[list[float], list[float]]:
        """Per candidate (scale, offset): its objective is p * scale + offset."""
        key = (candidates, payment.network)
        schedules = self._schedules.get(key)
        if schedules is None:
            schedules = self._schedules[key] = [
                _terms(self._fees.fee(a, payment.network)) for a in candidates.acquirers
            ]
        amount = payment.amount
        scale: list[float] = []
        offset: list[float] = []
        expected_value = self._expected_value
        per_bps = self._lambda * BPS / amount if amount > 0 else 0.0
        for pct_bps, fixed, per_attempt in schedules:
            ok = attempt_fee(pct_bps, fixed, per_attempt, amount, True)
            no = attempt_fee(pct_bps, fixed, per_attempt, amount, False)
            if expected_value:  # p (amount - ok) - (1 - p) no
                scale.append(amount - ok + no)
                offset.append(-no)
            else:  # 100 p - lambda * (p ok + (1 - p) no) / amount * 10 000
                scale.append(100.0 - per_bps * (ok - no))
                offset.append(-per_bps * no)
        return scale, offset

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        segment = self._segment_of(payment)
        acquirers = candidates.acquirers
        n = len(acquirers)
        if n == 1:
            return Ordering(candidates.rule, acquirers, segment, acquirers[0], False, 1.0)
        h = self._exploration
        explore = h > 0.0 and self._uniforms.next() < h
        scale, offset = self.objective(candidates, payment)
        book = self._book
        counts = self.counts(segment) if book is None else self._no_counts
        slots = self._slots.candidates(candidates)
        if book is not None:
            p = book.rates(segment, acquirers)
        elif self._sample:
            p = self.posterior_draws(counts, slots)
        else:
            p = self.posterior_means(counts, slots)
        order = rank(acquirers, [p[i] * scale[i] + offset[i] for i in range(n)])
        preferred = order[0]
        if explore:
            pick = acquirers[self.pick(candidates)]
            order = (pick, *(a for a in order if a != pick))
        first = order[0]
        if self._sample:
            chosen = acquirers.index(first)
            p_model = self.sampled_first(counts, slots, chosen, scale, offset)
            propensity = h / n + (1.0 - h) * p_model
        else:
            propensity = hedged(h, n, first == preferred)
        return Ordering(candidates.rule, order, segment, preferred, explore, propensity)

    def record(self, result: AttemptResult) -> None:
        book = self._book
        if book is None:
            CountingStrategy.record(self, result)
            return
        verdict = self._attribution.verdict(result)
        if verdict != NEUTRAL:
            decision = result.decision
            book.push(decision.segment, result.acquirer, verdict == SUCCESS, decision.acquirers)

    def scores(self) -> dict[str, dict[str, float]]:
        book = self._book
        return book.scores() if book is not None else CountingStrategy.scores(self)

    def forget(self, acquirer: str) -> None:
        book = self._book
        if book is None:
            CountingStrategy.forget(self, acquirer)
        else:
            book.forget(acquirer)
