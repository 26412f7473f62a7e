"""Log-spaced latency histogram: bounded memory whatever the number of payments.

Kept free of pydantic so the simulator's hot path can use it compiled (see setup.py).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import ClassVar

import numpy as np


class LatencyHistogram:
    """Log-spaced latency histogram: bounded memory, ~1 % relative error on quantiles.

    Buckets grow by ``GROWTH`` from ``LOW_MS``; values beyond the top land in the last.
    """

    LOW_MS: ClassVar[float] = 0.01
    GROWTH: ClassVar[float] = 1.02
    BUCKETS: ClassVar[int] = 1100  # up to ~0.01 ms * 1.02**1100 ≈ 28 minutes
    _INV_LOG_GROWTH: ClassVar[float] = 1.0 / math.log(1.02)
    _INV_LOW: ClassVar[float] = 100.0

    def __init__(self, counts: list[int] | None = None) -> None:
        self.counts: list[int] = counts if counts is not None else [0] * self.BUCKETS

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
