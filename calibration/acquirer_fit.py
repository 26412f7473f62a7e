"""Everything fitted for one acquirer: faults, approval by segment, declines, latency,
fees and incidents, from the attempts routed to it."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from calibration.approval import ApprovalFit, Cell, fit_approval
from calibration.attempts import APPROVED_I, HARD_I, SOFT_I, TECHNICAL_I, TIMEOUT_I, code_table
from calibration.distributions import LognormalFit, fit_lognormal
from calibration.estimates import Estimate, normal, proportion
from calibration.fees import FeeFit, fit_fees
from calibration.incidents import Segment, detection_factor, incident_segments, segments
from calibration.timeline import Timeline


@dataclass(frozen=True)
class IncidentFit:
    start_s: float
    end_s: float
    approval_delta: Estimate
    error_rate: Estimate
    timeout_rate: Estimate
    latency_factor: float


@dataclass
class AcquirerFit:
    name: str
    attempts: int
    share: float  # of first attempts
    technical_error_rate: Estimate
    timeout_rate: Estimate
    technical_error_code: str
    approval: ApprovalFit
    decline_codes: dict[str, int]
    latency: LognormalFit | None
    latency_sample: np.ndarray  # answered latencies outside incidents (for the report)
    fees_default: FeeFit | None
    fees_by_network: dict[str, FeeFit]
    incidents: list[IncidentFit]
    series: dict[str, np.ndarray] = field(default_factory=dict)  # per bucket, for charts
    warnings: list[str] = field(default_factory=list)


def fit_acquirer(
    timeline: Timeline, a: int, bucket_s: float, level: float, share: float
) -> AcquirerFit:
    att = timeline.attempts
    name = att.acquirer.names[a]
    rows = np.flatnonzero(att.acquirer.codes == a)
    t = att.t_s[rows]
    outcome = att.outcome[rows]
    codes = att.code.codes[rows]
    acquirer_side = code_table(att.code, "acquirer_side")[codes]
    approved = outcome == APPROVED_I
    declined = (outcome == SOFT_I) | (outcome == HARD_I)
    decided = approved | (declined & acquirer_side)
    technical = outcome == TECHNICAL_I
    timeout = outcome == TIMEOUT_I
    warnings: list[str] = []

    # -- incidents on the bucketed series -------------------------------------------------
    n_buckets = max(1, math.ceil(timeline.duration_s / bucket_s))
    factor = detection_factor(n_buckets)
    width = bucket_s * factor
    bucket = np.minimum((t // width).astype(np.int64), math.ceil(timeline.duration_s / width) - 1)
    size = int(bucket.max()) + 1 if bucket.size else 1

    def per_bucket(mask: np.ndarray) -> np.ndarray:
        return np.bincount(bucket[mask], minlength=size)

    series = {
        "decided": per_bucket(decided),
        "approved": per_bucket(approved),
        "attempts": per_bucket(np.ones(rows.size, dtype=bool)),
        "errors": per_bucket(technical | timeout),
    }
    parts = segments(series["decided"], series["approved"], series["attempts"], series["errors"])
    windows = incident_segments(parts)
    in_incident = np.zeros(rows.size, dtype=bool)
    for w in windows:
        in_incident |= (bucket >= w.start) & (bucket < w.end)
    base = ~in_incident
    if factor > 1:
        warnings.append(f"{name}: incidents searched on {width:g} s buckets ({factor} merged)")

    # -- faults, approval, declines ----------------------------------------------------------
    n_base = int(base.sum())
    tech_rate = proportion(int((technical & base).sum()), n_base, level)
    timeout_rate = proportion(int((timeout & base).sum()), n_base, level)
    tech_codes = Counter(att.code.codes[rows][technical & base].tolist())
    tech_code = att.code.names[tech_codes.most_common(1)[0][0]] if tech_codes else "96"
    if len(tech_codes) > 1:
        shown = ", ".join(att.code.names[c] for c, _ in tech_codes.most_common())
        warnings.append(
            f"{name}: technical errors come with several codes ({shown}); the scenario "
            f"gives one technical_error_code ({tech_code})"
        )
    approval = _approval(timeline, rows, approved & base, decided & base, level)
    decline_codes = Counter(
        att.code.names[c] for c in codes[declined & acquirer_side & base].tolist()
    )

    # -- latency (answered attempts outside incidents) ---------------------------------------
    latency_ms = att.latency_ms[rows]
    answered = base & ~timeout & np.isfinite(latency_ms)
    sample = latency_ms[answered]
    latency = fit_lognormal(sample, level, "latency (ms)") if sample.size else None

    # -- fees ---------------------------------------------------------------------------------
    fee = att.fee[rows]
    network_names = np.array(att.network.names, dtype=object)[att.network.codes[rows]]
    fees_default: FeeFit | None = None
    fees_by_network: dict[str, FeeFit] = {}
    if np.isfinite(fee).any():
        fees_default, fees_by_network = fit_fees(
            network_names, att.amount[rows], fee, approved, level
        )

    incidents = [
        _incident(w, width, bucket, approved, decided, technical, timeout, latency_ms, base, level)
        for w in windows
    ]
    return AcquirerFit(
        name=name,
        attempts=int(rows.size),
        share=share,
        technical_error_rate=tech_rate,
        timeout_rate=timeout_rate,
        technical_error_code=tech_code,
        approval=approval,
        decline_codes=dict(decline_codes.most_common()),
        latency=latency,
        latency_sample=sample,
        fees_default=fees_default,
        fees_by_network=fees_by_network,
        incidents=incidents,
        series={**series, "width_s": np.array([width])},
        warnings=warnings,
    )


def _approval(
    timeline: Timeline, rows: np.ndarray, approved: np.ndarray, decided: np.ndarray, level: float
) -> ApprovalFit:
    att = timeline.attempts
    net = att.network.codes[rows]
    typ = att.card_type.codes[rows]
    cb = (att.cross_border[rows] == 1).astype(np.int64)
    key = (net.astype(np.int64) * (len(att.card_type.names) + 1) + typ) * 2 + cb
    used = np.unique(key[decided])
    index = np.searchsorted(used, key)
    valid = decided & (index < used.size)
    n = np.bincount(index[valid], minlength=used.size)
    k = np.bincount(index[valid & approved], minlength=used.size)
    cells: list[Cell] = []
    width = len(att.card_type.names) + 1
    for value in used.tolist():
        cross = bool(value % 2)
        rest = value // 2
        cells.append((att.network.names[rest // width], att.card_type.names[rest % width], cross))
    return fit_approval(cells, k, n, level)


def _incident(
    w: Segment,
    width: float,
    bucket: np.ndarray,
    approved: np.ndarray,
    decided: np.ndarray,
    technical: np.ndarray,
    timeout: np.ndarray,
    latency_ms: np.ndarray,
    base: np.ndarray,
    level: float,
) -> IncidentFit:
    inside = (bucket >= w.start) & (bucket < w.end)

    def rate_delta(event: np.ndarray, among: np.ndarray, method: str) -> Estimate:
        n1, n0 = int((inside & among).sum()), int((base & among).sum())
        k1, k0 = int((inside & among & event).sum()), int((base & among & event).sum())
        p1 = k1 / n1 if n1 else 0.0
        p0 = k0 / n0 if n0 else 0.0
        se = math.sqrt(p1 * (1 - p1) / max(n1, 1) + p0 * (1 - p0) / max(n0, 1))
        return normal(p1 - p0, se, n1, level, method)

    everything = np.ones(inside.size, dtype=bool)
    approval = rate_delta(approved, decided, "approval in the window minus baseline")
    errors = rate_delta(technical, everything, "error rate in the window minus baseline")
    timeouts = rate_delta(timeout, everything, "timeout rate in the window minus baseline")
    factor = 1.0
    answered = ~timeout & np.isfinite(latency_ms) & (latency_ms > 0)
    lat_in, lat_base = latency_ms[inside & answered], latency_ms[base & answered]
    if lat_in.size >= 30 and lat_base.size >= 30:
        diff = float(np.log(lat_in).mean() - np.log(lat_base).mean())
        se = math.sqrt(np.log(lat_in).var() / lat_in.size + np.log(lat_base).var() / lat_base.size)
        if abs(diff) > 3.0 * se and abs(diff) > math.log(1.1):
            factor = math.exp(diff)
    return IncidentFit(w.start * width, w.end * width, approval, errors, timeouts, factor)
