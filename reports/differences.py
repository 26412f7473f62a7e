"""Differences between two runs with honest 95 % intervals, choosing the right method.

Whether two runs may be compared, and how, is :func:`results.pairing.pairing`'s call
(by the runs' identities):

- **paired**: two simulator runs of the same experiment, seed and replication count saw
  the same payments and issuer answers (common random numbers), so replication ``r`` of
  one is compared with replication ``r`` of the other
  (``results.stats.paired_difference``);
- **welch**: the same experiment, not paired (another seed or engine), several
  replications on both sides: Welch's t over the per-replication figures;
- **two-proportion**: a run with a single replication (a live load test) offers no
  spread between replications; for the two authorisation rates, Newcombe's hybrid
  interval combines each run's own 95 % CI (Wilson for one replication, t over
  replications otherwise);
- **none**: other metrics of single-replication runs get a point estimate only, and so
  does every metric of two runs that are not the same experiment (another scenario,
  timeline, time scale or rate scale): their difference is no effect of the policy.

Runs without an identity (older files) are compared as unpaired samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from reports.metrics import AUTH_RATE, FIRST_ATTEMPT, HEADLINE, Metric, first_attempt_approved
from results.contract import RunSummary
from results.pairing import pairing
from results.stats import Interval, defined, paired_difference, welch_difference, wilson_interval

Method = Literal["paired", "welch", "two-proportion", "none"]

METHOD_TEXT: dict[Method, str] = {
    "paired": "paired over replications (same payments in both runs)",
    "welch": "Welch's t over replications (independent runs)",
    "two-proportion": "two-proportion interval (Newcombe) from each run's own 95 % CI",
    "none": "no interval: a single replication",
}

# Each rate metric's own 95 % CI in a summary, and its (successes, trials) counts.
_RATE_CI: dict[str, Callable[[RunSummary], tuple[float | None, float | None]]] = {
    AUTH_RATE.key: lambda s: s.auth_rate_ci95,
    FIRST_ATTEMPT.key: lambda s: s.first_attempt_auth_rate_ci95,
}
_RATE_COUNTS: dict[str, Callable[[RunSummary], tuple[int, int]]] = {
    AUTH_RATE.key: lambda s: (s.approved, s.payments),
    FIRST_ATTEMPT.key: lambda s: (first_attempt_approved(s), s.payments),
}


@dataclass(frozen=True)
class Difference:
    """``other`` minus ``base`` for one metric, with its 95 % interval when there is one."""

    metric: Metric
    estimate: float | None
    low: float | None
    high: float | None
    method: Method
    n: int = 0

    @property
    def has_interval(self) -> bool:
        return defined(self.low) and defined(self.high)

    @property
    def significant(self) -> bool | None:
        """True when the 95 % interval excludes zero; None when there is no interval."""
        if self.low is None or self.high is None or not self.has_interval:
            return None
        return self.low > 0.0 or self.high < 0.0

    @property
    def improves(self) -> bool | None:
        """Whether the change goes the metric's good way (None: no direction or no change)."""
        if self.estimate is None or self.metric.better == "neither" or self.estimate == 0:
            return None
        return (self.estimate > 0) == (self.metric.better == "higher")

    def format(self) -> str:
        """ "+1.75 pp [+1.60, +1.89]" or "+12 ms (no interval)"."""
        fmt = self.metric.format_difference
        if self.estimate is None:
            return "n/a"
        if not self.has_interval:
            return f"{fmt(self.estimate)} (no interval)"
        return f"{fmt(self.estimate)} {self.metric.format_range(self.low, self.high, True, False)}"


def is_paired(base: RunSummary, other: RunSummary) -> bool:
    """Whether two runs used common random numbers replication by replication."""
    return pairing(base, other).paired


PairMethod = Literal["paired", "welch", "two-proportion", "different"]


def run_pair_method(base: RunSummary, other: RunSummary) -> PairMethod:
    """The method used for the headline (authorisation-rate) difference of two runs."""
    relation = pairing(base, other)
    if relation.paired:
        return "paired"
    if relation.kind == "different":
        return "different"
    if base.replications >= 2 and other.replications >= 2:
        return "welch"
    return "two-proportion"


def _from_interval(metric: Metric, interval: Interval, method: Method) -> Difference:
    if not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return Difference(metric, interval.estimate, None, None, "none", interval.n)
    return Difference(metric, interval.estimate, interval.low, interval.high, method, interval.n)


def _rate_ci(metric: Metric, summary: RunSummary) -> tuple[float, float, float] | None:
    """A run's own (estimate, low, high) for a rate; Wilson from counts if not recorded."""
    value = metric.value(summary)
    if value is None:
        return None
    low, high = _RATE_CI[metric.key](summary)
    if defined(low) and defined(high):
        return value, low, high
    successes, trials = _RATE_COUNTS[metric.key](summary)
    wilson = wilson_interval(successes, trials)
    return value, wilson.low, wilson.high


def newcombe_difference(
    b: tuple[float, float, float], a: tuple[float, float, float]
) -> tuple[float, float, float]:
    """Newcombe's hybrid interval for ``p_b - p_a`` from each proportion's own interval.

    Each argument is (estimate, low, high). With Wilson intervals this is Newcombe's
    method 10 (Statistics in Medicine, 1998); with a t interval over replications it
    carries that run's between-replication spread into the difference.
    """
    p_b, l_b, u_b = b
    p_a, l_a, u_a = a
    d = p_b - p_a
    low = d - math.sqrt((p_b - l_b) ** 2 + (u_a - p_a) ** 2)
    high = d + math.sqrt((u_b - p_b) ** 2 + (p_a - l_a) ** 2)
    return d, low, high


def difference(metric: Metric, base: RunSummary, other: RunSummary) -> Difference:
    """``other - base`` for ``metric`` by the best method the two runs allow."""
    value_a, value_b = metric.value(base), metric.value(other)
    if value_a is None or value_b is None:
        return Difference(metric, None, None, None, "none")
    relation = pairing(base, other)
    if relation.kind == "different":
        return Difference(metric, value_b - value_a, None, None, "none")
    reps_a, reps_b = metric.replication_values(base), metric.replication_values(other)
    if reps_a is not None and reps_b is not None and len(reps_a) >= 2 and len(reps_b) >= 2:
        if relation.paired:
            return _from_interval(metric, paired_difference(reps_b, reps_a), "paired")
        return _from_interval(metric, welch_difference(reps_b, reps_a), "welch")
    if metric.key in _RATE_CI:
        ci_a, ci_b = _rate_ci(metric, base), _rate_ci(metric, other)
        if ci_a is not None and ci_b is not None:
            d, low, high = newcombe_difference(ci_b, ci_a)
            return Difference(
                metric, d, low, high, "two-proportion", min(base.payments, other.payments)
            )
    return Difference(metric, value_b - value_a, None, None, "none")


def differences(
    base: RunSummary, other: RunSummary, metrics: Sequence[Metric] = HEADLINE
) -> list[Difference]:
    return [difference(m, base, other) for m in metrics]
