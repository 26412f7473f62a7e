"""What the strategy tests share: payments, answers, strategies built from scenario text,
and the check that reported propensities match how often each acquirer comes first."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import TypeAdapter
from scipy import stats as sps

from router.engine import classify
from router.engine.registry import make_strategy
from router.engine.rules import Candidates
from router.engine.strategies import AttemptResult, Ordering, Strategy, StrategyContext
from scenarios.sampler import Payment
from scenarios.schema import Acquirer, FeeSchedule
from scenarios.schema import Strategy as StrategyConfig
from scenarios.streams import UniformStream

CONFIG: TypeAdapter[Any] = TypeAdapter(StrategyConfig)


def pay(
    *,
    amount: int = 5_000,
    currency: str = "EUR",
    network: str = "visa",
    card_type: str = "credit",
    issuer_country: str = "DE",
    bin: str = "411111",
    cross_border: bool | None = None,
) -> Payment:
    """A payment for a merchant in DE unless ``cross_border`` says otherwise."""
    if cross_border is None:
        cross_border = issuer_country != "DE"
    return Payment(amount, currency, network, card_type, issuer_country, bin, cross_border)


def rule(*acquirers: str, name: str = "r", weights: tuple[float, ...] | None = None) -> Candidates:
    """One rule's candidates (one object per rule, as the rule book makes them)."""
    return Candidates(name, tuple(acquirers), weights)


def fees(**pct_bps: float) -> FeeSchedule:
    """A fee schedule: each acquirer charges ``pct_bps`` of an approved amount."""
    return FeeSchedule(
        [
            Acquirer.model_validate(
                {
                    "name": name,
                    "latency": {"dist": "fixed", "ms": 100},
                    "approval": {"base": 0.9},
                    "fees": {"default": {"pct_bps": bps}},
                }
            )
            for name, bps in pct_bps.items()
        ]
    )


def build(
    config: dict[str, Any],
    seed: int = 1,
    acquirers: tuple[str, ...] = ("a", "b", "c"),
    propensities: bool = True,
    schedule: FeeSchedule | None = None,
) -> Strategy:
    """The strategy a scenario's ``strategy`` section describes, as the engine builds it."""
    context = StrategyContext(
        UniformStream(np.random.default_rng(seed)), acquirers, propensities, schedule
    )
    return make_strategy(CONFIG.validate_python(config), context)


def answer(
    decision: Ordering, acquirer: str, code: str, latency_ms: float = 100.0, at: float = 0.0
) -> AttemptResult:
    """The attempt result a driver hands the strategy for an answer with ``code``."""
    info = classify(code)
    return AttemptResult(
        decision, acquirer, code, info.outcome, info.acquirer_side, latency_ms, 0.0, at
    )


def feed(
    strategy: Strategy,
    acquirer: str,
    codes: str | list[str],
    payment: Payment | None = None,
    candidates: Candidates | None = None,
    at: float = 0.0,
    latency_ms: float = 100.0,
) -> Ordering:
    """Route one payment per code and answer each attempt at ``acquirer`` with the code
    (``codes`` as one string of two-character codes, or a list); the last decision."""
    payment = payment or pay()
    candidates = candidates or rule("a", "b", "c")
    items = (
        codes if isinstance(codes, list) else [codes[i : i + 2] for i in range(0, len(codes), 2)]
    )
    assert items, "no codes to answer with"
    decisions = []
    for code in items:
        decisions.append(strategy.order(payment, candidates, at))
        strategy.record(answer(decisions[-1], acquirer, code, latency_ms, at))
    return decisions[-1]


def firsts(decide: Callable[[], Ordering], n: int) -> tuple[Counter[str], dict[str, list[float]]]:
    """How often each acquirer came first in ``n`` decisions, and the propensities the
    decisions reported for it."""
    counts: Counter[str] = Counter()
    reported: dict[str, list[float]] = defaultdict(list)
    for _ in range(n):
        d = decide()
        counts[d.acquirers[0]] += 1
        reported[d.acquirers[0]].append(d.propensity)
    return counts, reported


def assert_propensities_match(
    decide: Callable[[], Ordering], n: int, exact: bool, confidence: float = 0.999
) -> dict[str, float]:
    """The reported first-choice probability of each acquirer against its empirical
    frequency over ``n`` decisions from one frozen state (binomial interval); exact
    propensities must be the same number every time. Returns acquirer -> propensity."""
    counts, reported = firsts(decide, n)
    means: dict[str, float] = {}
    for acquirer, values in reported.items():
        if exact:
            assert max(values) == min(values), (acquirer, set(values))
        p = float(np.mean(values))
        means[acquirer] = p
        lo, hi = sps.binom.interval(confidence, n, p)
        assert lo <= counts[acquirer] <= hi, (acquirer, counts[acquirer], n, p)
    if exact:
        assert sum(means.values()) <= 1.0 + 1e-12
    return means
