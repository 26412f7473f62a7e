"""Running counts of one replication: bounded memory whatever the number of payments.

Nothing is kept per payment: counters, per-bucket time series and a latency histogram
are updated as payments finish.
"""

from __future__ import annotations

import math
from collections import Counter

from results.histogram import LatencyHistogram
from scenarios.taxonomy import OutcomeClass


class Tally:
    """Counts for the payments that arrive after warm-up."""

    def __init__(self, acquirers: list[str], duration_s: float, bucket_s: float) -> None:
        self.acquirers = acquirers
        n = len(acquirers)
        self.bucket_s = bucket_s
        self.n_buckets = max(1, math.ceil(duration_s / bucket_s))
        self._per_bucket = 1.0 / bucket_s
        self.payments = 0
        self.approved = 0
        self.first_attempt_approved = 0
        self.attempts = 0
        self.cascaded = 0  # payments that had more than one attempt
        self.recovered = 0  # of those, approved on a later attempt
        # the lifecycle: attempts the router gave up waiting for; unknown outcomes settled
        # during the payment, or left to settle in the background; late approvals reversed
        self.timeouts = 0
        self.settled = 0
        self.unsettled = 0
        self.reversed_approvals = 0
        self.cost = 0.0
        self.approved_amount = 0
        self.first_attempts = [0] * n
        self.attempts_by_acquirer = [0] * n
        self.approvals_by_acquirer = [0] * n
        self.declines_by_code: Counter[str] = Counter()
        self.declines_by_class: Counter[str] = Counter()
        self.latency = LatencyHistogram()
        self.series_payments = [0] * self.n_buckets
        self.series_approved = [0] * self.n_buckets
        self.series_latency_sum_ms = [0.0] * self.n_buckets
        self.series_attempts = [[0] * self.n_buckets for _ in range(n)]

    def bucket(self, t: float) -> int:
        b = int(t * self._per_bucket)
        return b if b < self.n_buckets else self.n_buckets - 1

    def attempt(self, acquirer: int, t_sent: float, approved: bool, fee: float) -> None:
        self.attempts += 1
        self.attempts_by_acquirer[acquirer] += 1
        b = int(t_sent * self._per_bucket)
        self.series_attempts[acquirer][b if b < self.n_buckets else self.n_buckets - 1] += 1
        self.cost += fee
        if approved:
            self.approvals_by_acquirer[acquirer] += 1

    def payment(
        self,
        t_arrival: float,
        first_acquirer: int,
        attempts: int,
        approved: bool,
        code: str,
        outcome: OutcomeClass,
        latency_ms: float,
        amount: int,
    ) -> None:
        self.payments += 1
        self.first_attempts[first_acquirer] += 1
        b = int(t_arrival * self._per_bucket)
        if b >= self.n_buckets:
            b = self.n_buckets - 1
        self.series_payments[b] += 1
        self.series_latency_sum_ms[b] += latency_ms
        self.latency.record(latency_ms)
        if attempts > 1:
            self.cascaded += 1
        if approved:
            self.approved += 1
            self.approved_amount += amount
            self.series_approved[b] += 1
            if attempts == 1:
                self.first_attempt_approved += 1
            else:
                self.recovered += 1
        else:
            self.declines_by_code[code] += 1
            self.declines_by_class[outcome.value] += 1

    def timeseries(self) -> list[dict[str, float]]:
        rows = []
        for b in range(self.n_buckets):
            payments = self.series_payments[b]
            row: dict[str, float] = {
                "t_start_s": b * self.bucket_s,
                "payments": payments,
                "approved": self.series_approved[b],
                "auth_rate": round(self.series_approved[b] / payments, 6) if payments else math.nan,
                "mean_latency_ms": (
                    round(self.series_latency_sum_ms[b] / payments, 3) if payments else math.nan
                ),
            }
            for a, name in enumerate(self.acquirers):
                row[f"attempts_{name}"] = self.series_attempts[a][b]
            rows.append(row)
        return rows
