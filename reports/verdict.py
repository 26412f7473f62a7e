"""Plain-language sentences a product person can read at the top of a report.

Every number in a sentence comes from the run files; a difference is called
significant only when its 95 % interval excludes zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reports.differences import Difference, Method
from reports.metrics import ATTEMPTS, AUTH_RATE, COST_BPS, LATENCY_P95, bps, clock, ms, pct
from reports.rundata import Run
from results.stats import defined

# How each method reads inside a verdict's parentheses.
SENTENCE_METHOD: dict[Method, str] = {
    "paired": "paired over {n} replications with the same payments",
    "welch": "Welch's t over replications",
    "two-proportion": "two-proportion interval",
    "none": "no interval",
}

# A latency change smaller than this is not worth a clause in the verdict.
LATENCY_WORTH_MENTIONING_MS = 10.0
LATENCY_WORTH_MENTIONING_REL = 0.05


def _magnitude_pp(d: Difference) -> str:
    """ "1.75 pp [1.60, 1.89]" in the direction of the change (no signs to decode)."""
    assert d.estimate is not None
    sign = 1.0 if d.estimate >= 0 else -1.0
    text = f"{100 * abs(d.estimate):.2f}\u00a0pp"
    if d.low is not None and d.high is not None and d.has_interval:
        lo, hi = sorted((100 * sign * d.low, 100 * sign * d.high))
        text += f" [{lo:.2f}, {hi:.2f}]"
    return text


def _cost_clause(cost: Difference | None) -> str:
    if cost is None or cost.estimate is None:
        return ""
    if cost.significant is False:
        return f", at about the same cost ({bps(cost.estimate, signed=True)}, not significant)"
    if cost.estimate >= 0:
        return f", at {bps(cost.estimate, signed=True)} cost"
    return f", saving {bps(-cost.estimate)} of cost"


def _latency_clause(latency: Difference | None, base_p95: float | None) -> str:
    if latency is None or latency.estimate is None or latency.significant is False:
        return ""
    threshold = max(
        LATENCY_WORTH_MENTIONING_MS,
        LATENCY_WORTH_MENTIONING_REL * (base_p95 if defined(base_p95) else 0.0),
    )
    if abs(latency.estimate) < threshold:
        return ""
    return f" and {ms(latency.estimate, signed=True)} on p95 latency"


def comparison_sentence(
    base_label: str, other_label: str, diffs: list[Difference], base_p95_ms: float | None = None
) -> str:
    """E.g. "sr_window raises the authorisation rate by 1.75 pp [1.60, 1.89] compared
    with priority, at +14.2 bps cost; significant (paired over replications ...)"."""
    by_key = {d.metric.key: d for d in diffs}
    auth = by_key.get(AUTH_RATE.key)
    if auth is None or auth.estimate is None:
        return f"{other_label} and {base_label}: the authorisation rates cannot be compared (n/a)."
    if round(100 * auth.estimate, 2) == 0:
        change = "leaves the authorisation rate unchanged"
    else:
        verb = "raises" if auth.estimate > 0 else "lowers"
        change = f"{verb} the authorisation rate by {_magnitude_pp(auth)}"
    sentence = (
        f"{other_label} {change} compared with {base_label}"
        f"{_cost_clause(by_key.get(COST_BPS.key))}"
        f"{_latency_clause(by_key.get(LATENCY_P95.key), base_p95_ms)}"
    )
    if auth.significant is None:
        return f"{sentence}; no interval, so significance cannot be judged."
    method = SENTENCE_METHOD[auth.method].format(n=auth.n)
    if auth.significant:
        return f"{sentence}; significant ({method})."
    return f"{sentence}; the difference is not significant ({method})."


@dataclass(frozen=True)
class IncidentImpact:
    """Authorisation rate inside an incident window against the rest of the run."""

    name: str
    acquirer: str
    start_s: float
    end_s: float
    inside: float | None
    outside: float | None


def incident_impacts(run: Run) -> list[IncidentImpact]:
    """Per incident window, approvals / payments in the buckets it covers and outside them."""
    t = run.column("t_start_s")
    payments = run.column("payments")
    approved = run.column("approved")
    impacts = []
    for incident in run.summary.incidents:
        inside_rate = outside_rate = None
        if t is not None and payments is not None and approved is not None:
            p, a = np.nan_to_num(payments), np.nan_to_num(approved)
            inside = (t >= incident.start_s) & (t < incident.end_s)
            if p[inside].sum() > 0:
                inside_rate = float(a[inside].sum() / p[inside].sum())
            if p[~inside].sum() > 0:
                outside_rate = float(a[~inside].sum() / p[~inside].sum())
        impacts.append(
            IncidentImpact(
                incident.name,
                incident.acquirer,
                incident.start_s,
                incident.end_s,
                inside_rate,
                outside_rate,
            )
        )
    return impacts


def run_sentences(run: Run) -> list[str]:
    """The opening paragraph of a run report, one sentence per idea."""
    s = run.summary
    lo, hi = s.auth_rate_ci95
    ci = f" (95 % CI {pct(lo)} – {pct(hi)})" if defined(lo) and defined(hi) else ""
    recovered = s.cascade.get("recovered", 0)
    sentences = [
        f"Under the {s.policy} policy, {pct(s.auth_rate)} of {s.payments:,} payments were "
        f"approved{ci}; {pct(s.first_attempt_auth_rate)} on the first attempt."
    ]
    if s.payments and recovered:
        sentences.append(
            f"Retrying on another acquirer rescued {recovered:,} payments "
            f"({pct(recovered / s.payments)} of all payments) at "
            f"{ATTEMPTS.format(s.attempts_per_payment)} attempts per payment."
        )
    sentences.append(
        f"Acquirer fees came to {bps(s.cost.bps)} of the approved amount; "
        f"95 % of payers had their answer within {ms(s.latency_ms.p95)}."
    )
    for impact in incident_impacts(run):
        if impact.inside is not None and impact.outside is not None:
            sentences.append(
                f"During {impact.name} on {impact.acquirer} ({clock(impact.start_s)}–"
                f"{clock(impact.end_s)}) the authorisation rate was {pct(impact.inside)}, "
                f"against {pct(impact.outside)} the rest of the time."
            )
    if (
        s.engine == "live"
        and defined(s.offered_rate)
        and s.offered_rate > 0
        and defined(s.achieved_rate)
    ):
        sentences.append(
            f"The load test offered {s.offered_rate:,.1f} payments/s and achieved "
            f"{s.achieved_rate:,.1f}/s ({pct(s.achieved_rate / s.offered_rate, 1)}); "
            f"{pct(s.http_error_rate)} of HTTP requests failed."
        )
    return sentences
