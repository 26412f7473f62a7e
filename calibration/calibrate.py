"""``calibrate``: from attempts to a fitted, validated scenario and what backs each number."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calibration.acquirer_fit import AcquirerFit, fit_acquirer
from calibration.attempts import OUTCOMES, Attempts, ImportReport
from calibration.estimates import MIN_N
from calibration.scenario_file import (
    DEFAULT_TIMEOUT_MS,
    acquirer_data,
    plain,
    to_yaml,
    traffic_data,
)
from calibration.timeline import Timeline, build_timeline
from calibration.traffic_fit import TrafficFit, fit_traffic
from scenarios.loader import validate_scenario
from scenarios.schema import Scenario

DEFAULT_BUCKET_S = 60.0
LEVEL = 0.95


@dataclass
class Calibration:
    """A fitted scenario with every fit behind it."""

    scenario: Scenario
    data: dict[str, Any]
    timeline: Timeline
    traffic: TrafficFit
    acquirers: list[AcquirerFit]
    reports: list[ImportReport]
    level: float
    bucket_s: float
    merchant_country: str
    policy_comment: list[str]
    warnings: list[str] = field(default_factory=list)

    def acquirer(self, name: str) -> AcquirerFit:
        return next(a for a in self.acquirers if a.name == name)

    def yaml_text(self) -> str:
        sources = ", ".join(r.source for r in self.reports) or "attempts"
        header = [
            f"Calibrated by `routelab calibrate` from {sources}:",
            f"{len(self.timeline.attempts)} attempts, {self.traffic.payments} payments over "
            f"{self.timeline.duration_s:g} s; intervals, sample sizes and grades are in "
            "calibration.html.",
        ]
        return to_yaml(self.data, header, self.policy_comment)

    def write(self, path: str | Path) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.yaml_text(), encoding="utf-8")
        return out


def _merchant_country(attempts: Attempts, given: str | None, warnings: list[str]) -> str:
    if given:
        return given.upper()
    counts = attempts.issuer_country.counts()
    counts.pop("unknown", None)
    country = max(counts, key=lambda c: counts[c]) if counts else "DE"
    warnings.append(
        f"no --merchant-country: taken as {country}, the most common issuer country "
        "(cross-border is decided against it)"
    )
    return country


def _cross_border(attempts: Attempts, country: str) -> None:
    """Decide cross-border where the export did not (routelab's one definition)."""
    unknown = attempts.cross_border < 0
    if not unknown.any():
        return
    from calibration.importers.assemble import cross_border_of

    decided = cross_border_of(attempts.issuer_country, country)
    attempts.cross_border = np.where(unknown, decided, attempts.cross_border).astype(np.int8)
    attempts.cross_border[attempts.cross_border < 0] = 0


def _retry(timeline: Timeline) -> tuple[dict[str, Any], list[str]]:
    att = timeline.attempts
    order = np.lexsort((att.attempt, att.payment.codes))
    payment = att.payment.codes[order]
    followed = np.r_[payment[1:] == payment[:-1], False]
    classes = att.outcome[order][followed]
    cascade_on = sorted(
        {OUTCOMES[c].value for c in np.unique(classes).tolist() if OUTCOMES[c].value != "approved"}
    )
    max_attempts = int(min(max(int(att.attempt.max()), 1), 10))
    timeouts = att.latency_ms[(att.outcome == 4) & np.isfinite(att.latency_ms)]
    timeout_ms = float(np.median(timeouts)) if timeouts.size else DEFAULT_TIMEOUT_MS
    retry: dict[str, Any] = {
        "max_attempts": max_attempts,
        "attempt_timeout_ms": round(timeout_ms, 1),
        "budget_ms": max(10_000.0, round(timeout_ms * max_attempts, 1)),
    }
    if cascade_on:
        retry["cascade_on"] = cascade_on
    notes = [f"observed up to {max_attempts} attempts per payment"]
    if cascade_on:
        notes.append(f"cascades observed after: {', '.join(cascade_on)}")
    return retry, notes


def calibrate(
    attempts: Attempts,
    *,
    reports: list[ImportReport] | None = None,
    name: str = "calibrated",
    merchant_country: str | None = None,
    bucket_s: float = DEFAULT_BUCKET_S,
    level: float = LEVEL,
) -> Calibration:
    """Fit a scenario to ``attempts``; ``level`` is the confidence level of intervals."""
    warnings: list[str] = []
    country = _merchant_country(attempts, merchant_country, warnings)
    _cross_border(attempts, country)
    timeline = build_timeline(attempts, bucket_s)
    traffic = fit_traffic(timeline, bucket_s, level)
    att = timeline.attempts
    first_counts = np.bincount(
        att.acquirer.codes[timeline.first], minlength=len(att.acquirer.names)
    )
    payments = max(int(timeline.first.sum()), 1)
    used = np.bincount(att.acquirer.codes, minlength=len(att.acquirer.names))
    fits = [
        fit_acquirer(timeline, a, bucket_s, level, float(first_counts[a]) / payments)
        for a in range(len(att.acquirer.names))
        if used[a]
    ]
    fits.sort(key=lambda f: (-f.share, -f.attempts, f.name))
    for fit in fits:
        warnings += fit.warnings
        if fit.attempts < MIN_N:
            warnings.append(f"{fit.name}: only {fit.attempts} attempts: its figures are thin")
        if fit.latency is None:
            warnings.append(f"{fit.name}: no latency in the export: latency set to a fixed 250 ms")
        elif not fit.latency.good:
            warnings.append(
                f"{fit.name}: latency is not lognormal "
                f"(KS distance {fit.latency.ks_distance:.3f}): "
                "written as empirical percentiles"
            )
        thin = [c for c, e in fit.approval.cells.items() if e.grade == "thin"]
        if thin:
            warnings.append(
                f"{fit.name}: {len(thin)} segments with fewer than {MIN_N} decided attempts: "
                "their approval is mostly the acquirer's pooled rate"
            )
    declined = int(((att.outcome == 1) | (att.outcome == 2)).sum())
    if not declined:
        warnings.append(
            "the export holds no declined attempts (an export of settled payments?): "
            "approval and decline rates cannot be calibrated from it"
        )
    if traffic.amount is not None and not traffic.amount.good:
        warnings.append(
            f"amounts are not lognormal (KS distance {traffic.amount.ks_distance:.3f}): written "
            "as the empirical amount distribution"
        )
    order = [f.name for f in fits]
    shares = ", ".join(f"{f.name} {f.share:.1%}" for f in fits)
    retry, retry_notes = _retry(timeline)
    policy_comment = [
        "The routing that produced the data, as far as the export shows it: first attempts",
        f"went {shares}. Rules are not guessed: one priority list in the observed share order.",
        *retry_notes,
    ]
    data: dict[str, Any] = {
        "name": name,
        "description": f"Fitted by routelab calibrate ({len(att)} attempts).",
        "seed": 1,
        "replications": 5,
        "warmup_s": 0.0,
        "bucket_s": bucket_s,
        "merchant": {"name": "merchant", "country": country},
        "acquirers": [acquirer_data(f) for f in fits],
        "traffic": traffic_data(traffic, timeline.duration_s),
        "policies": [
            {
                "name": "observed",
                "description": f"Priority in the observed share order ({shares}).",
                "strategy": {"type": "priority"},
                "default": order,
                "retry": retry,
            }
        ],
    }
    data = plain(data)
    scenario = validate_scenario(data, f"<calibrated {name}>")
    return Calibration(
        scenario=scenario,
        data=data,
        timeline=timeline,
        traffic=traffic,
        acquirers=fits,
        reports=reports or [],
        level=level,
        bucket_s=bucket_s,
        merchant_country=country,
        policy_comment=policy_comment,
        warnings=warnings + traffic.warnings,
    )
