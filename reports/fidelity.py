"""Fidelity: how far a live run of a scenario lands from the simulator's run of it.

Only runs of the same experiment are checked against each other (``results.pairing``:
the same scenario content, timeline, time scale and rate scale): a live run that
compressed the timeline is not judged against a full-length simulation. For any other
pair, :func:`fidelity` refuses, and its sentence says what differs.

The simulator and the live harness share the payment sampler, the acquirer behaviour
model and the routing engine, so on the same scenario and policy they should agree up
to sampling noise, plus what only the live run has: network hops, HTTP parsing,
queueing for CPU. Each check states its tolerance; the defaults are

- authorisation rates: within the simulator's 95 % CI widened by the live run's own
  sampling error (the half-widths add), and never tighter than ±1 pp;
- acquirer shares of first attempts: within the 95 % prediction interval for one run,
  from the spread of the simulator's replications (a live run is one more run of the
  same story; success-rate routing can swing shares between near-equal acquirers a lot
  from one run to the next), and never tighter than ±2 pp;
- latency quantiles: ±20 % of the simulated value plus a 15 ms network allowance
  (the live path adds two loopback HTTP hops and the router's own work).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reports.metrics import (
    AUTH_RATE,
    FIRST_ATTEMPT,
    LATENCY_P50,
    LATENCY_P95,
    LATENCY_P99,
    Kind,
    Metric,
    bps,
    first_attempt_approved,
    ms,
    pct,
    pp,
)
from results.contract import RunSummary
from results.pairing import pairing
from results.stats import defined, prediction_interval, t_interval, wilson_interval


@dataclass(frozen=True)
class Tolerances:
    """How far live may be from simulated and still count as agreeing."""

    auth_rate_pp: float = 1.0  # floor of the authorisation-rate allowance, percentage points
    share_pp: float = 2.0  # floor of the acquirer-share allowance, percentage points
    latency_rel: float = 0.20  # latency quantiles: fraction of the simulated value ...
    network_ms: float = 15.0  # ... plus this allowance for the live path's network hops
    share_level: float = 0.95  # level of one run's prediction interval for shares

    def describe(self) -> list[str]:
        """The tolerances in words, printed in the report next to the checks."""
        return [
            "Authorisation rates: within the simulator's 95 % CI widened by the live run's "
            f"own sampling error, and at least ±{self.auth_rate_pp:g}\u00a0pp.",
            "Acquirer shares of first attempts: within the "
            f"{100 * self.share_level:g} % prediction interval for one "
            "run, from the spread of the simulator's replications, and at least "
            f"±{self.share_pp:g}\u00a0pp.",
            f"Latency quantiles: ±{100 * self.latency_rel:g}\u00a0% of the simulated value "
            f"+ {self.network_ms:g}\u00a0ms network allowance.",
        ]


@dataclass(frozen=True)
class FidelityCheck:
    """One figure, simulated against live, with the allowed gap."""

    label: str
    kind: Kind
    simulated: float | None
    live: float | None
    allowed: float | None  # largest |live - simulated| that still agrees
    simulated_ci: tuple[float, float] | None = None
    rule: str = ""

    @property
    def difference(self) -> float | None:
        if self.simulated is None or self.live is None:
            return None
        return self.live - self.simulated

    @property
    def within(self) -> bool | None:
        """True when within tolerance; None when either side has no value."""
        gap = self.difference
        if gap is None or self.allowed is None:
            return None
        return abs(gap) <= self.allowed + 1e-12

    def format_allowed(self) -> str:
        """The allowance as "±1.00 pp" or "±67 ms"."""
        if self.allowed is None:
            return "n/a"
        if self.kind == "rate":
            return f"±{100 * self.allowed:.2f}\u00a0pp"
        return f"±{self.formatted(self.allowed)}"

    def formatted(self, value: float | None, signed: bool = False) -> str:
        if self.kind == "rate":
            return pp(value) if signed else pct(value)
        if self.kind == "ms":
            return ms(value, signed)
        return bps(value, signed)


@dataclass(frozen=True)
class Fidelity:
    """All checks of one live run against one simulated run of the same scenario."""

    simulated: RunSummary
    live: RunSummary
    tolerances: Tolerances
    checks: list[FidelityCheck] = field(default_factory=list)
    refused: str | None = None  # why the runs were not checked (not the same experiment)

    @property
    def outside(self) -> list[FidelityCheck]:
        return [c for c in self.checks if c.within is False]

    @property
    def judged(self) -> list[FidelityCheck]:
        return [c for c in self.checks if c.within is not None]

    def sentence(self) -> str:
        if self.refused is not None:
            return (
                f"Simulator vs live on {self.live.scenario} ({self.live.policy}) not checked: "
                f"{self.refused}."
            )
        judged, outside = self.judged, self.outside
        head = (
            f"Simulator vs live on {self.live.scenario} ({self.live.policy}): "
            f"{len(judged) - len(outside)} of {len(judged)} checks within tolerance"
        )
        if not outside:
            return head + "."
        worst = ", ".join(
            f"{c.label} ({c.formatted(c.difference, signed=True)}, allowed {c.format_allowed()})"
            for c in outside
        )
        return f"{head}; outside: {worst}."


def _half_width(ci: tuple[float | None, float | None], value: float) -> float | None:
    low, high = ci
    if not (defined(low) and defined(high)):
        return None
    return max(value - low, high - value)


def _rate_check(
    metric: Metric,
    sim: RunSummary,
    live: RunSummary,
    successes_live: int,
    ci_sim: tuple[float | None, float | None],
    ci_live: tuple[float | None, float | None],
    tol: Tolerances,
) -> FidelityCheck:
    p_sim, p_live = metric.value(sim), metric.value(live)
    floor = tol.auth_rate_pp / 100.0
    if p_sim is None or p_live is None:
        return FidelityCheck(metric.label, "rate", p_sim, p_live, None)
    sim_half = _half_width(ci_sim, p_sim) or 0.0
    live_half = _half_width(ci_live, p_live)
    if live_half is None:
        wilson = wilson_interval(successes_live, live.payments)
        live_half = max(p_live - wilson.low, wilson.high - p_live)
    allowed = max(floor, sim_half + live_half)
    low, high = ci_sim
    sim_ci = (low, high) if low is not None and high is not None else None
    rule = (
        f"sim CI ±{100 * sim_half:.2f} + live sampling ±{100 * live_half:.2f}\u00a0pp, "
        f"at least ±{tol.auth_rate_pp:g}\u00a0pp"
    )
    return FidelityCheck(metric.label, "rate", p_sim, p_live, allowed, sim_ci, rule)


def _latency_check(
    metric: Metric, sim: RunSummary, live: RunSummary, tol: Tolerances
) -> FidelityCheck:
    v_sim, v_live = metric.value(sim), metric.value(live)
    allowed = tol.latency_rel * v_sim + tol.network_ms if v_sim is not None else None
    sim_ci = None
    reps = metric.replication_values(sim)
    if reps is not None and len(reps) >= 2:
        interval = t_interval(reps)
        sim_ci = (interval.low, interval.high)
    rule = f"±{100 * tol.latency_rel:g}\u00a0% + {tol.network_ms:g}\u00a0ms"
    return FidelityCheck(metric.label, "ms", v_sim, v_live, allowed, sim_ci, rule)


def _share_check(
    acquirer: str, sim: RunSummary, live: RunSummary, tol: Tolerances
) -> FidelityCheck:
    # an acquirer a run never sent a first attempt to has a share of zero
    share_sim = sim.acquirer_share.get(acquirer, 0.0)
    share_live = live.acquirer_share.get(acquirer, 0.0)
    floor = tol.share_pp / 100.0
    reps = [r.acquirer_share.get(acquirer, 0.0) for r in sim.per_replication if r.acquirer_share]
    sim_ci = None
    spread = None
    if len(reps) >= 2 and all(defined(v) for v in reps):
        values = [float(v) for v in reps if v is not None]
        mean_ci = t_interval(values)
        sim_ci = (mean_ci.low, mean_ci.high)
        one_run = prediction_interval(values, tol.share_level)
        spread = max(one_run.estimate - one_run.low, one_run.high - one_run.estimate)
    allowed = floor if spread is None else max(floor, spread)
    if spread is None:
        rule = f"±{tol.share_pp:g}\u00a0pp (fewer than 2 simulated replications: no spread)"
    else:
        rule = (
            f"one run's {100 * tol.share_level:g} % prediction interval "
            f"±{100 * spread:.2f}\u00a0pp "
            f"from {len(reps)} replications, at least ±{tol.share_pp:g}\u00a0pp"
        )
    return FidelityCheck(
        f"Share of first attempts, {acquirer}", "rate", share_sim, share_live, allowed, sim_ci, rule
    )


def fidelity(sim: RunSummary, live: RunSummary, tolerances: Tolerances | None = None) -> Fidelity:
    """Check a live run against a simulated run of the same experiment; refuse any other."""
    tol = tolerances or Tolerances()
    relation = pairing(sim, live)
    if not relation.same_experiment:
        return Fidelity(sim, live, tol, refused=relation.reason)
    checks = [
        _rate_check(
            AUTH_RATE, sim, live, live.approved, sim.auth_rate_ci95, live.auth_rate_ci95, tol
        ),
        _rate_check(
            FIRST_ATTEMPT,
            sim,
            live,
            first_attempt_approved(live),
            sim.first_attempt_auth_rate_ci95,
            live.first_attempt_auth_rate_ci95,
            tol,
        ),
    ]
    names = list(dict.fromkeys([*sim.acquirer_share, *live.acquirer_share]))
    checks += [_share_check(name, sim, live, tol) for name in names]
    checks += [_latency_check(m, sim, live, tol) for m in (LATENCY_P50, LATENCY_P95, LATENCY_P99)]
    return Fidelity(sim, live, tol, checks)


def _same_policy(a: RunSummary, b: RunSummary) -> bool:
    if a.policy != b.policy:
        return False
    ha = a.identity.policy_hash if a.identity else None
    hb = b.identity.policy_hash if b.identity else None
    return ha is None or hb is None or ha == hb


def fidelity_pairs(summaries: Sequence[RunSummary]) -> list[tuple[int, int]]:
    """(simulated index, live index) for each live run that has a simulated counterpart.

    The counterpart is a simulator run of the same experiment and policy, or failing
    that the first simulator run of the same experiment. A live run with none, but with
    a simulator run of the same scenario name, is paired with that one so that
    :func:`fidelity` can say why it does not check them.
    """
    pairs = []
    for j, live in enumerate(summaries):
        if live.engine != "live":
            continue
        simulated = [i for i, s in enumerate(summaries) if s.engine == "simulator"]
        same = [i for i in simulated if pairing(summaries[i], live).same_experiment]
        named = [i for i in simulated if summaries[i].scenario == live.scenario]
        for candidates in (same, named):
            if candidates:
                policy = [i for i in candidates if _same_policy(summaries[i], live)]
                pairs.append(((policy or candidates)[0], j))
                break
    return pairs
