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

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict

SUMMARY = "summary.json"
TIMESERIES = "timeseries.csv"
HISTOGRAM = "latency_histogram.csv"


class LatencyHistogram:
    """Log-spaced latency histogram: bounded memory, ~1 % relative error on quantiles.

    Buckets grow by ``GROWTH`` from ``LOW_MS``; values beyond the top land in the last.
    """

    LOW_MS = 0.01
    GROWTH = 1.02
    BUCKETS = 1100  # up to ~0.01 ms * 1.02**1100 ≈ 28 minutes

    __slots__ = ("counts",)

    def __init__(self, counts: list[int] | None = None) -> None:
        self.counts = counts if counts is not None else [0] * self.BUCKETS

    _INV_LOG_GROWTH = 1.0 / math.log(GROWTH)
    _INV_LOW = 1.0 / LOW_MS

    @classmethod
    def index(cls, ms: float) -> int:
        if ms <= cls.LOW_MS:
            return 0
        i = int(math.log(ms * cls._INV_LOW) * cls._INV_LOG_GROWTH)
        return i if i < cls.BUCKETS else cls.BUCKETS - 1

    def record(self, ms: float) -> None:
        self.counts[self.index(ms)] += 1

    def merge(self, other: LatencyHistogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @classmethod
    def edges(cls) -> np.ndarray:
        return cls.LOW_MS * cls.GROWTH ** np.arange(cls.BUCKETS + 1)

    def quantile(self, q: float) -> float:
        """Latency (ms) below which a fraction ``q`` of payments fall (bucket midpoint)."""
        total = self.total
        if total == 0:
            return math.nan
        counts = np.asarray(self.counts)
        idx = int(np.searchsorted(np.cumsum(counts), q * total, side="left"))
        idx = min(idx, self.BUCKETS - 1)
        lo = self.LOW_MS * self.GROWTH**idx
        return float(lo * math.sqrt(self.GROWTH)) if idx else float(lo)

    def mean(self) -> float:
        total = self.total
        if total == 0:
            return math.nan
        edges = self.edges()
        mids = np.sqrt(edges[:-1] * edges[1:])
        return float(np.dot(mids, np.asarray(self.counts)) / total)

    def percentiles(self) -> dict[str, float]:
        return {
            "p50": round(self.quantile(0.50), 2),
            "p95": round(self.quantile(0.95), 2),
            "p99": round(self.quantile(0.99), 2),
            "mean": round(self.mean(), 2),
        }

    def write_csv(self, path: Path) -> None:
        edges = self.edges()
        with path.open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["low_ms", "high_ms", "count"])
            for i, count in enumerate(self.counts):
                if count:
                    out.writerow([f"{edges[i]:.4f}", f"{edges[i + 1]:.4f}", count])

    @classmethod
    def read_csv(cls, path: Path) -> LatencyHistogram:
        hist = cls()
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                low = float(row["low_ms"])
                hist.counts[cls.index(low * math.sqrt(cls.GROWTH))] += int(row["count"])
        return hist


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


class IncidentWindow(BaseModel):
    acquirer: str
    name: str
    start_s: float
    end_s: float


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
    timeouts: dict[str, int]
    cost: Cost
    incidents: list[IncidentWindow]
    per_replication: list[ReplicationFigures]
    wall_seconds: float
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
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
