"""The yardsticks of a policy against the oracle: regret, detection, recovery, loss.

Pure: tallies in (one per replication of the policy, and one per replication of the
oracle run on the same seeds, so replication ``r`` of both met the same payments and the
same issuer and acquirer draws), contract objects out. The definitions, precisely:

**Regret.** Per replication, the oracle's authorisation rate minus the policy's, in
percentage points; and the same for the objective, 100 * auth rate - lambda * cost in
bps of the amount offered (``scenarios.schema.Objective``; lambda = 0 without one, the
objective is then the auth rate in pp). Reported: the mean over replications with its
paired 95 % t interval (common random numbers make the pairing exact).

**The share series.** For an incident of acquirer A, the payments of the *affected
segment* (those the incident's ``when`` matches; all payments when it has none) are cut
by arrival time into buckets of ``share_bucket_s`` (5 s; merged ``k`` at a time where
the segment is thin, ``k`` the smallest number giving at least
:data:`MIN_BUCKET_PAYMENTS` payments per bucket on average before the incident). A
bucket's share is A's first attempts over all first attempts among them; buckets
without payments are skipped. No further smoothing: instead a crossing counts only when
:data:`CONSECUTIVE` buckets in a row are past the threshold, and the time reported is
the end of the first of them.

Detection and recovery are measured for incidents that degrade A (lower approval, more
errors or hung requests, slower answers); one that improves A has nothing to detect.

**Share before.** A's share over the :data:`BEFORE_S` seconds before the incident starts,
leaving out the warm-up and every time inside an incident of A (so a flapping acquirer
is judged against its healthy share). Below :data:`MIN_SHARE_BEFORE` the policy hardly
used A: detection and recovery are not applicable in that replication (None, with
the reason), and the figures are over the other replications.

**Detection time.** From the incident's start until A's share falls below
:data:`DETECTED_BELOW` (10 %) of its share before, searched in the buckets that start
within the incident; None when it never does (a static policy).

**Recovery time.** From the incident's end until A's share is back to at least
:data:`RECOVERED_AT` (half) of its share before, searched in the buckets that start
after the end and before A's next incident (or the end of the run); None when it never
is, and not measured at all for an incident that lasts to the end of the run. The time
resolution of both is one bucket: the earliest figure is one bucket.

**Payments lost to the incident.** The oracle's approvals minus the policy's among the
payments arriving from the incident's start to :data:`LOSS_AFTER_S` after its end (all
payments, not only the segment's), per replication; mean and paired 95 % t interval.

Detection and recovery are given per replication, with the number of replications
where they were applicable and where they happened, their median, their mean and a 95 %
t interval of the mean over the replications where they happened. A policy that never
detects an incident (a static priority list) has no detection time: "never" is not a
number, and it is counted, not averaged.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Final

from results.contract import (
    IncidentYardstick,
    Regret,
    TimeToEvent,
    Yardsticks,
)
from results.stats import paired_difference, t_interval
from results.tally import Tally
from scenarios.conditions import Condition
from scenarios.schema import Incident, Scenario

BEFORE_S: Final = 300.0
MIN_SHARE_BEFORE: Final = 0.05
DETECTED_BELOW: Final = 0.10
RECOVERED_AT: Final = 0.50
CONSECUTIVE: Final = 2
MIN_BUCKET_PAYMENTS: Final = 20
LOSS_AFTER_S: Final = 120.0

METHOD: Final = (
    f"share of first attempts per {{bucket:g}} s bucket of the affected segment's payments "
    f"(no smoothing; a crossing needs {CONSECUTIVE} buckets in a row, timed at the end of "
    f"the first); share before: the {BEFORE_S:g} s before the start outside the warm-up and "
    f"the acquirer's incidents; detected below {DETECTED_BELOW:.0%} of it, recovered at "
    f"{RECOVERED_AT:.0%} of it after the end; lost: oracle minus policy approvals from the "
    f"start to {LOSS_AFTER_S:g} s after the end; regret: oracle minus policy, paired over "
    "replications"
)


def objective_pp(tally: Tally, lambda_pp_per_bps: float) -> float:
    """A tally's objective: 100 * auth rate - lambda * cost in bps of the amount offered."""
    if not tally.payments:
        return math.nan
    auth_pp = 100.0 * tally.approved / tally.payments
    if lambda_pp_per_bps <= 0.0:
        return auth_pp
    cost_bps = tally.cost * 10_000.0 / tally.offered_amount if tally.offered_amount else 0.0
    return auth_pp - lambda_pp_per_bps * cost_bps


def _rate_pp(tally: Tally) -> float:
    return 100.0 * tally.approved / tally.payments if tally.payments else math.nan


def regret(policy: Sequence[Tally], oracle: Sequence[Tally], lambda_pp_per_bps: float) -> Regret:
    """The policy's regret against the oracle, replication by replication."""
    _check_paired(policy, oracle)
    auth = paired_difference([_rate_pp(t) for t in oracle], [_rate_pp(t) for t in policy])
    obj = paired_difference(
        [objective_pp(t, lambda_pp_per_bps) for t in oracle],
        [objective_pp(t, lambda_pp_per_bps) for t in policy],
    )
    pooled_payments = sum(t.payments for t in oracle)
    return Regret(
        auth_rate_pp=round(auth.estimate, 4),
        auth_rate_pp_ci95=(_r(auth.low), _r(auth.high)),
        objective_pp=round(obj.estimate, 4),
        objective_pp_ci95=(_r(obj.low), _r(obj.high)),
        lambda_pp_per_bps=lambda_pp_per_bps,
        oracle_auth_rate=(
            round(sum(t.approved for t in oracle) / pooled_payments, 6) if pooled_payments else None
        ),
        oracle_objective_pp=_r(
            statistics.fmean(objective_pp(t, lambda_pp_per_bps) for t in oracle)
        ),
        oracle_cost_bps=_r(
            sum(t.cost for t in oracle) * 10_000.0 / sum(t.approved_amount for t in oracle)
            if sum(t.approved_amount for t in oracle)
            else math.nan
        ),
        per_replication_pp=[_r(o - p) for o, p in _pairs(policy, oracle)],
        objective_per_replication_pp=[
            _r(objective_pp(o, lambda_pp_per_bps) - objective_pp(p, lambda_pp_per_bps))
            for p, o in zip(policy, oracle, strict=True)
        ],
    )


def _pairs(policy: Sequence[Tally], oracle: Sequence[Tally]) -> list[tuple[float, float]]:
    return [(_rate_pp(o), _rate_pp(p)) for p, o in zip(policy, oracle, strict=True)]


def _check_paired(policy: Sequence[Tally], oracle: Sequence[Tally]) -> None:
    if len(policy) != len(oracle) or not policy:
        raise ValueError(f"{len(policy)} policy tallies against {len(oracle)} oracle tallies")


def _r(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else round(x, 4)


# -- the share series ---------------------------------------------------------------------


def first_attempt_series(tally: Tally, acquirer: str, watch: int) -> tuple[list[int], list[int]]:
    """Per share bucket: the acquirer's first attempts and all first attempts, in the
    watched segment ``watch`` (-1: every payment)."""
    columns = tally.fine_first if watch < 0 else tally.watch_first[watch]
    total = [sum(col) for col in zip(*columns, strict=True)] if columns else [0] * tally.n_fine
    if acquirer not in tally.acquirers:
        return [0] * tally.n_fine, total
    return list(columns[tally.acquirers.index(acquirer)]), total


class ShareSeries:
    """An acquirer's share of first attempts in buckets of ``width`` seconds."""

    def __init__(self, mine: list[int], total: list[int], fine_s: float, group: int) -> None:
        self.width = fine_s * group
        self.mine = [sum(mine[i : i + group]) for i in range(0, len(mine), group)]
        self.total = [sum(total[i : i + group]) for i in range(0, len(total), group)]

    def share_between(self, windows: Sequence[tuple[float, float]]) -> float:
        """The pooled share over the buckets that start within any of ``windows``."""
        mine = total = 0
        for b in range(len(self.total)):
            start = b * self.width
            if any(lo <= start < hi for lo, hi in windows):
                mine += self.mine[b]
                total += self.total[b]
        return mine / total if total else math.nan

    def first_crossing(self, start_s: float, stop_s: float, below: bool, level: float) -> float:
        """The end of the first of :data:`CONSECUTIVE` non-empty buckets starting within
        [start_s, stop_s) whose share is below (or at least) ``level``; NaN if none."""
        run: list[int] = []
        for b in range(len(self.total)):
            begin = b * self.width
            if begin < start_s - 1e-9 or not self.total[b]:
                continue
            if begin >= stop_s - 1e-9:
                break
            share = self.mine[b] / self.total[b]
            if (share < level) if below else (share >= level):
                run.append(b)
                if len(run) == CONSECUTIVE:
                    return (run[0] + 1) * self.width
            else:
                run = []
        return math.nan


def _group(total: list[int], fine_s: float, windows: Sequence[tuple[float, float]]) -> int:
    """How many fine buckets to merge so the segment has enough payments per bucket."""
    counts = [n for b, n in enumerate(total) if any(lo <= b * fine_s < hi for lo, hi in windows)]
    mean = statistics.fmean(counts) if counts else 0.0
    if mean <= 0.0:
        return 1
    return max(1, math.ceil(MIN_BUCKET_PAYMENTS / mean))


def _before_windows(
    incident: Incident, others: Sequence[Incident], warmup_s: float
) -> list[tuple[float, float]]:
    """The healthy time before ``incident``: BEFORE_S seconds back from its start, less
    the warm-up and every incident of the same acquirer."""
    windows = [(max(warmup_s, incident.start_s - BEFORE_S), incident.start_s)]
    for other in sorted(others, key=lambda i: i.start_s):
        cut: list[tuple[float, float]] = []
        for lo, hi in windows:
            if other.end_s <= lo or other.start_s >= hi:
                cut.append((lo, hi))
                continue
            if other.start_s > lo:
                cut.append((lo, other.start_s))
            if other.end_s < hi:
                cut.append((other.end_s, hi))
        windows = cut
    return [(lo, hi) for lo, hi in windows if hi > lo]


def degrades(incident: Incident) -> bool:
    """Whether an incident makes its acquirer worse (detection and recovery make sense
    only then; an acquirer that improves has nothing to be detected)."""
    return (
        incident.approval_delta < 0.0
        or incident.error_rate > 0.0
        or incident.timeout_rate > 0.0
        or incident.latency_factor > 1.0
    )


def _time_to_event(values: list[float | None], applicable: list[bool]) -> TimeToEvent:
    """``applicable`` empty: not measurable at all (a recovery after the run's end)."""
    if not applicable:
        values = [None] * len(values)
    happened = [v for v in values if v is not None]
    interval = t_interval(happened) if len(happened) >= 2 else None
    return TimeToEvent(
        per_replication=values,
        replications=sum(applicable),
        happened=len(happened),
        median_s=statistics.median(happened) if happened else None,
        mean_s=_r(statistics.fmean(happened)) if happened else None,
        mean_ci95=((_r(interval.low), _r(interval.high)) if interval is not None else (None, None)),
    )


def incident_yardsticks(
    scenario: Scenario,
    watches: Sequence[Condition],
    policy: Sequence[Tally],
    oracle: Sequence[Tally] | None,
) -> list[IncidentYardstick]:
    """Detection, recovery and payments lost for every incident the run reached."""
    found: list[IncidentYardstick] = []
    duration = scenario.traffic.duration_s
    for acquirer in scenario.acquirers:
        for incident in acquirer.incidents:
            if incident.start_s >= duration:
                continue
            others = [i for i in acquirer.incidents if i is not incident]
            later = [i.start_s for i in others if i.start_s >= incident.end_s]
            recovery_stop = min(later, default=duration)
            watch = watches.index(incident.when) if incident.when != Condition() else -1
            befores = _before_windows(incident, others, scenario.warmup_s)
            detections: list[float | None] = []
            recoveries: list[float | None] = []
            shares: list[float] = []
            applicable: list[bool] = []
            reason = "" if degrades(incident) else "the incident does not degrade the acquirer"
            for tally in policy:
                mine, total = first_attempt_series(tally, acquirer.name, watch)
                fine_s = tally.share_bucket_s
                series = ShareSeries(mine, total, fine_s, _group(total, fine_s, befores))
                before = series.share_between(befores)
                shares.append(before)
                applicable.append(before >= MIN_SHARE_BEFORE and degrades(incident))
                if not applicable[-1]:
                    reason = reason or (
                        f"the policy sent {acquirer.name} under {MIN_SHARE_BEFORE:.0%} of the "
                        "segment's first attempts before the incident"
                        if not math.isnan(before)
                        else "no payments of the segment before the incident"
                    )
                    detections.append(None)
                    recoveries.append(None)
                    continue
                fell = series.first_crossing(
                    incident.start_s, incident.end_s, True, DETECTED_BELOW * before
                )
                back = series.first_crossing(
                    incident.end_s, recovery_stop, False, RECOVERED_AT * before
                )
                detections.append(None if math.isnan(fell) else round(fell - incident.start_s, 3))
                recoveries.append(None if math.isnan(back) else round(back - incident.end_s, 3))
            lost = _lost(policy, oracle, incident) if oracle is not None else None
            found.append(
                IncidentYardstick(
                    acquirer=acquirer.name,
                    name=incident.name,
                    start_s=incident.start_s,
                    end_s=incident.end_s,
                    segment=_describe(incident.when),
                    share_before=_mean_defined(shares),
                    applicable=applicable,
                    not_applicable_because=reason or None,
                    detection=_time_to_event(detections, applicable),
                    recovery=_time_to_event(
                        recoveries, applicable if incident.end_s < recovery_stop else []
                    ),
                    lost_payments=lost[0] if lost else None,
                    lost_payments_ci95=lost[1] if lost else (None, None),
                    lost_per_replication=lost[2] if lost else [],
                )
            )
    return found


def _mean_defined(values: list[float]) -> float | None:
    defined = [v for v in values if not math.isnan(v)]
    return _r(statistics.fmean(defined)) if defined else None


def _lost(
    policy: Sequence[Tally], oracle: Sequence[Tally], incident: Incident
) -> tuple[float | None, tuple[float | None, float | None], list[float]]:
    _check_paired(policy, oracle)
    stop = incident.end_s + LOSS_AFTER_S

    def approvals(tally: Tally) -> float:
        width = tally.share_bucket_s
        return float(
            sum(
                n
                for b, n in enumerate(tally.fine_approved)
                if incident.start_s - 1e-9 <= b * width < stop - 1e-9
            )
        )

    mine = [approvals(t) for t in policy]
    best = [approvals(t) for t in oracle]
    diff = paired_difference(best, mine)
    return (
        _r(diff.estimate),
        (_r(diff.low), _r(diff.high)),
        [b - m for b, m in zip(best, mine, strict=True)],
    )


def _describe(condition: Condition) -> str:
    fields = condition.model_dump(exclude_none=True)
    if not fields:
        return "all payments"
    return ", ".join(f"{k}={v}" for k, v in fields.items())


def measure(
    scenario: Scenario,
    watches: Sequence[Condition],
    policy: Sequence[Tally],
    oracle: Sequence[Tally],
) -> Yardsticks:
    """Every yardstick of a simulated policy against its oracle run."""
    lam = scenario.objective.lambda_pp_per_bps if scenario.objective is not None else 0.0
    share_bucket_s = policy[0].share_bucket_s
    return Yardsticks(
        method=METHOD.format(bucket=share_bucket_s),
        share_bucket_s=share_bucket_s,
        regret=regret(policy, oracle, lam),
        incidents=incident_yardsticks(scenario, watches, policy, oracle),
    )
