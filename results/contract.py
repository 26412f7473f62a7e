"""The run result contract shared by both engines: a run is a directory of plain data.

``summary.json`` (see :class:`RunSummary`), ``timeseries.csv`` (per time bucket:
payments, approvals, attempts per acquirer) and ``latency_histogram.csv`` (end-to-end
latency as the payer sees it, in log-spaced buckets). Reports read only these files.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from results.histogram import LatencyHistogram
from results.identity import RunIdentity

__all__ = [
    "LatencyHistogram",
    "RunIdentity",
    "RunSummary",
    "read_summary",
    "read_timeseries",
    "write_run",
]

SUMMARY = "summary.json"
TIMESERIES = "timeseries.csv"
HISTOGRAM = "latency_histogram.csv"


def _nan_to_none(value: Any) -> Any:
    """JSON has no NaN: an undefined ratio (no attempts, no approvals) is written as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value


Ratio = float | None  # None where the ratio is undefined (nothing to divide by)


class Cost(BaseModel):
    total: float
    per_approved: Ratio
    bps: Ratio


class LatencySummary(BaseModel):
    p50: Ratio
    p95: Ratio
    p99: Ratio
    mean: Ratio


class ReplicationFigures(BaseModel):
    """One replication's headline figures, kept so comparisons can pair them by seed."""

    seed_index: int
    payments: int
    approved: int
    auth_rate: Ratio
    first_attempt_auth_rate: Ratio
    attempts_per_payment: Ratio
    cost_per_approved: Ratio
    cost_bps: Ratio
    latency_p95_ms: Ratio
    # share of first attempts by acquirer; absent from summaries written before it existed
    acquirer_share: dict[str, Ratio] = {}


class IncidentWindow(BaseModel):
    acquirer: str
    name: str
    start_s: float
    end_s: float


class Regret(BaseModel):
    """A policy's regret against the oracle (``results.yardsticks``): oracle minus policy,
    in percentage points, mean over replications with a paired 95 % interval."""

    auth_rate_pp: Ratio
    auth_rate_pp_ci95: tuple[Ratio, Ratio]
    objective_pp: Ratio
    objective_pp_ci95: tuple[Ratio, Ratio]
    lambda_pp_per_bps: float  # the objective's weight of a bps of cost (0: auth rate alone)
    oracle_auth_rate: Ratio
    oracle_objective_pp: Ratio
    oracle_cost_bps: Ratio
    per_replication_pp: list[Ratio]
    # the objective's regret per replication (files written before it: empty)
    objective_per_replication_pp: list[Ratio] = []


class TimeToEvent(BaseModel):
    """Seconds until something happened, per replication (None: it never did)."""

    per_replication: list[float | None]
    replications: int  # replications where it could be measured (see ``applicable``)
    happened: int  # of those, where it happened
    median_s: float | None
    mean_s: float | None
    mean_ci95: tuple[Ratio, Ratio]


class IncidentYardstick(BaseModel):
    """How a policy met one incident: detection, recovery, payments lost to it."""

    acquirer: str
    name: str
    start_s: float
    end_s: float
    segment: str  # the payments the incident hits ("all payments", or its condition)
    share_before: Ratio  # the acquirer's share of the segment's first attempts before it
    # per replication: False where the policy hardly used the acquirer before the incident
    applicable: list[bool]
    not_applicable_because: str | None = None
    detection: TimeToEvent
    recovery: TimeToEvent
    lost_payments: Ratio  # oracle minus policy approvals around the incident (mean)
    lost_payments_ci95: tuple[Ratio, Ratio]
    lost_per_replication: list[float]


class Yardsticks(BaseModel):
    """The policy against the oracle on the same seeds (see ``results.yardsticks``)."""

    method: str
    share_bucket_s: float
    regret: Regret
    incidents: list[IncidentYardstick]


class SchemeFigures(BaseModel):
    """What the card schemes' rules did (``scenarios.schemes``): fees for excess retries
    and declines (part of ``cost``), the attempts charged, payments a rule stopped."""

    fees: float
    excess_attempts: int
    stopped_payments: int


class RunSummary(BaseModel):
    """``summary.json``: the figures every report reads, for both engines."""

    model_config = ConfigDict(extra="forbid")

    engine: Literal["simulator", "live"]
    scenario: str
    policy: str
    seed: int
    replications: int
    duration_s: float
    warmup_s: float
    payments: int
    approved: int
    auth_rate: Ratio
    auth_rate_ci95: tuple[Ratio, Ratio]
    ci_method: str
    first_attempt_auth_rate: Ratio
    first_attempt_auth_rate_ci95: tuple[Ratio, Ratio]
    attempts_per_payment: Ratio
    latency_ms: LatencySummary
    acquirer_share: dict[str, Ratio]
    acquirer_auth_rate: dict[str, Ratio]
    declines_by_code: dict[str, int]
    declines_by_class: dict[str, int]
    cascade: dict[str, int]
    # the payment lifecycle's counters (results.tally): timeouts, settled, unsettled and
    # reversed_approvals (None where not known); files written before them hold
    # timeouts and voided_late_approvals
    timeouts: dict[str, int | None]
    cost: Cost
    incidents: list[IncidentWindow]
    per_replication: list[ReplicationFigures]
    wall_seconds: float
    # what the run ran (results.identity); None in files written before it was recorded
    identity: RunIdentity | None = None
    # where reversed_approvals was counted: "behaviour model" (simulator), "acquirer
    # ledgers" (live), None where it is not known
    reversed_approvals_source: str | None = None
    # the card schemes' fees and stops; None in files written before they were counted
    schemes: SchemeFigures | None = None
    # the oracle's yardsticks (simulator runs that ran the oracle); None otherwise
    yardsticks: Yardsticks | None = None
    # engine-specific
    sim_payments_per_second: float | None = None
    offered_rate: float | None = None
    achieved_rate: float | None = None
    http_error_rate: float | None = None
    reconciliation: dict[str, int] | None = None


def write_run(
    out_dir: Path,
    summary: RunSummary,
    timeseries: list[dict[str, Any]],
    histogram: LatencyHistogram,
) -> Path:
    """Write a run directory; returns the path of ``summary.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SUMMARY
    data = _nan_to_none(summary.model_dump(mode="json"))
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    if timeseries:
        with (out_dir / TIMESERIES).open("w", newline="") as fh:
            out = csv.DictWriter(fh, fieldnames=list(timeseries[0]))
            out.writeheader()
            out.writerows(timeseries)
    histogram.write_csv(out_dir / HISTOGRAM)
    return path


def read_summary(run_dir: Path) -> RunSummary:
    return RunSummary.model_validate_json((run_dir / SUMMARY).read_bytes())


def read_timeseries(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / TIMESERIES
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        # an empty cell is a ratio with nothing to divide by (a bucket without payments)
        return [
            {k: float(v) if v and v.strip() else math.nan for k, v in row.items()}
            for row in csv.DictReader(fh)
        ]
