"""Incidents: windows where an acquirer's approval or error rate departs from its baseline.

Method (stated in the report):

1. Per acquirer, attempts are counted per bucket: acquirer-decided attempts and their
   approvals, all attempts and their technical errors and timeouts.
2. The bucket series is cut into segments by optimal partitioning (Jackson et al. 2005;
   the exact search PELT speeds up) with a binomial likelihood on both rates at once and
   a BIC penalty of ``3 · ln(attempts)`` per segment.
3. A segment is an incident when its approval rate is at least :data:`MIN_APPROVAL_DROP`
   away from the baseline (the pooled rate of all segments that are not incidents) or
   its error rate at least :data:`MIN_ERROR_RISE` above it, and the difference is
   significant (two-proportion z >= :data:`Z_INCIDENT`). The first baseline is the regime
   covering most of the timeline (around the duration-weighted median rates), then it
   is re-pooled from the segments that are not incidents until none changes side.

Segments start and end on bucket boundaries, so a window is found to within a bucket.
More than :data:`MAX_BUCKETS` buckets are merged in twos, fours... before the search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

MIN_APPROVAL_DROP = 0.02
MIN_ERROR_RISE = 0.01
Z_INCIDENT = 5.0
MAX_BUCKETS = 2000


@dataclass(frozen=True)
class Segment:
    start: int  # first bucket
    end: int  # one past the last bucket
    decided: int
    approved: int
    attempts: int
    errors: int

    @property
    def approval(self) -> float:
        return self.approved / self.decided if self.decided else math.nan

    @property
    def error_rate(self) -> float:
        return self.errors / self.attempts if self.attempts else math.nan


def _xlogy(k: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.where(k > 0, k * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return out


def _binomial_cost(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """-2 log-likelihood of ``k`` successes in ``n`` at their own MLE rate."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / np.where(n > 0, n, 1), 0.0)
    cost: np.ndarray = -2.0 * (_xlogy(k, p) + _xlogy(n - k, 1.0 - p))
    return cost


def segments(
    decided: np.ndarray, approved: np.ndarray, attempts: np.ndarray, errors: np.ndarray
) -> list[Segment]:
    """Optimal partition of the bucket series (PELT pruning) into segments."""
    b = decided.size
    if b == 0:
        return []
    cums = [np.r_[0, np.cumsum(x)].astype(float) for x in (decided, approved, attempts, errors)]
    penalty = 3.0 * math.log(max(float(attempts.sum()), 2.0))
    best = np.zeros(b + 1)
    best[0] = -penalty
    last = np.zeros(b + 1, dtype=np.int64)
    candidates = np.array([0], dtype=np.int64)
    for j in range(1, b + 1):
        i = candidates
        nd, ka, na, ke = (c[j] - c[i] for c in cums)
        cost = _binomial_cost(nd, ka) + _binomial_cost(na, ke)
        total = best[i] + cost + penalty
        k = int(np.argmin(total))
        best[j] = total[k]
        last[j] = i[k]
        # PELT: a start that cannot beat the optimum by the penalty never will later
        candidates = np.r_[i[best[i] + cost <= best[j]], j]
    cuts = [b]
    while cuts[-1] > 0:
        cuts.append(int(last[cuts[-1]]))
    cuts.reverse()
    out = []
    for s, e in pairwise(cuts):
        out.append(
            Segment(
                s,
                e,
                int(decided[s:e].sum()),
                int(approved[s:e].sum()),
                int(attempts[s:e].sum()),
                int(errors[s:e].sum()),
            )
        )
    return out


def _z(k1: int, n1: int, k2: int, n2: int) -> float:
    if not n1 or not n2:
        return 0.0
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(max(p * (1 - p), 1e-12) * (1 / n1 + 1 / n2))
    return (k1 / n1 - k2 / n2) / se


def _median(values: list[float], weights: list[int]) -> float:
    order = sorted(range(len(values)), key=lambda i: values[i])
    half, seen = sum(weights) / 2.0, 0
    for i in order:
        seen += weights[i]
        if seen >= half:
            return values[i]
    return values[order[-1]]


def incident_segments(parts: list[Segment]) -> list[Segment]:
    """The segments that depart from the baseline (see the module's method).

    The first baseline is the regime that covers most of the timeline: the segments
    within the minimum departures of the duration-weighted median approval and error
    rates; it is then re-pooled from the segments not flagged until nothing changes.
    """
    if len(parts) < 2:
        return []
    durations = [p.end - p.start for p in parts]
    usable = [p for p in parts if p.decided and p.attempts]
    if not usable:
        return []
    approval = _median([p.approval for p in usable], [p.end - p.start for p in usable])
    errors = _median([p.error_rate for p in usable], [p.end - p.start for p in usable])
    flagged = [
        not (p.decided and abs(p.approval - approval) < MIN_APPROVAL_DROP)
        or not (p.attempts and p.error_rate - errors < MIN_ERROR_RISE)
        for p in parts
    ]
    for _ in range(10):
        base = [p for p, f in zip(parts, flagged, strict=True) if not f]
        if not base:
            base = [max(parts, key=lambda p: durations[parts.index(p)])]
        bd, ba = sum(p.decided for p in base), sum(p.approved for p in base)
        bn, be = sum(p.attempts for p in base), sum(p.errors for p in base)
        new = []
        for p in parts:
            drop = abs(p.approval - ba / bd) if p.decided and bd else 0.0
            rise = p.error_rate - be / bn if p.attempts and bn else 0.0
            z_app = abs(_z(p.approved, p.decided, ba, bd))
            z_err = _z(p.errors, p.attempts, be, bn)
            new.append(
                (drop >= MIN_APPROVAL_DROP and z_app >= Z_INCIDENT)
                or (rise >= MIN_ERROR_RISE and z_err >= Z_INCIDENT)
            )
        if new == flagged:
            break
        flagged = new
    return [p for p, f in zip(parts, flagged, strict=True) if f]


def detection_factor(n_buckets: int) -> int:
    """How many buckets to merge so the search sees at most :data:`MAX_BUCKETS`."""
    factor = 1
    while n_buckets / factor > MAX_BUCKETS:
        factor *= 2
    return factor
