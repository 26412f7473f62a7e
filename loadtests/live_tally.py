"""Running counts of a live run's payments, mergeable across Locust workers.

Each worker process keeps a :class:`LiveTally` of the payments it sent; every few
seconds Locust asks it for a report (``events.report_to_master``) and it hands over
what it counted since the last report (:meth:`LiveTally.drain`); the master merges
the reports into one tally (``events.worker_report``). Reports are plain dicts of
str keys, numbers and flat dicts, so they travel as msgpack and store as JSON.

Figures count only payments whose intended send time is past the warm-up, as the
simulator counts only payments that arrive after it; the generator's own health
(scheduled, sent, late, dropped) is also counted over the whole run. Nothing is kept
per payment: counters, per-bucket series and log-bucketed latency histograms.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from loadtests.payer import PaymentAnswer
from results.contract import LatencyHistogram
from scenarios.sampler import Payment
from scenarios.schema import Fee, Scenario

# per-bucket series columns, in order
SERIES = ("scheduled", "payments", "approved", "latency_sum_ms", "http_errors", "dropped")
_SCHEDULED, _PAYMENTS, _APPROVED, _LATENCY, _ERRORS, _DROPPED = range(len(SERIES))
VOIDED = frozenset({"voided", "late_voided"})  # an approval the router had to reverse

# whole run: the generator's health (progress and the run's summary report these)
GENERATOR_COUNTS = (
    "scheduled_all",
    "sent_all",
    "answered_all",
    "errors_all",
    "dropped_all",
    "late_all",
)
# scalar counters: summed on merge
COUNTS = (
    *GENERATOR_COUNTS,
    "streams_started",
    "streams_finished",
    # after warm-up: the figures
    "scheduled",
    "sent",
    "late",
    "dropped",
    "payments",
    "approved",
    "first_attempt_approved",
    "attempts",
    "cascaded",
    "recovered",
    "timeouts",
    "voided_late_approvals",
    "approved_amount",
    "cost",
)
MAXIMA = ("max_lateness_ms", "last_send_s")  # merged by max
COUNTERS = (
    "first_attempts",
    "attempts_by_acquirer",
    "approvals_by_acquirer",
    "declines_by_code",
    "declines_by_class",
    "http_errors",
    "series_attempts",
)
HISTOGRAMS = ("latency", "latency_from_send", "lateness")

FeeOf = Callable[[str, str], Fee | None]  # (acquirer, network) -> fee schedule


def fee_schedule(scenario: Scenario) -> FeeOf:
    """The scenario's fee per (acquirer, network); None for an acquirer it does not know."""
    cache: dict[tuple[str, str], Fee | None] = {}
    known = {a.name: a for a in scenario.acquirers}

    def fee_of(acquirer: str, network: str) -> Fee | None:
        key = (acquirer, network)
        if key not in cache:
            found = known.get(acquirer)
            cache[key] = found.fees.for_network(network) if found is not None else None
        return cache[key]

    return fee_of


class LiveTally:
    """Counts of one process's payments, or of all workers' after merging their reports."""

    def __init__(
        self, warmup_s: float = 0.0, bucket_s: float = 1.0, fee_of: FeeOf | None = None
    ) -> None:
        if not bucket_s > 0.0:
            raise ValueError("bucket_s must be positive")
        self.warmup_s = warmup_s
        self.bucket_s = bucket_s
        self._fee_of = fee_of
        self.reset()

    def reset(self) -> None:
        self.counts: dict[str, float] = dict.fromkeys(COUNTS, 0)
        self.maxima: dict[str, float] = dict.fromkeys(MAXIMA, 0.0)
        self.counters: dict[str, Counter[str]] = {name: Counter() for name in COUNTERS}
        self.histograms: dict[str, Counter[int]] = {name: Counter() for name in HISTOGRAMS}
        self.series: dict[int, list[float]] = {}

    # -- recording (the hot path: one call per event) -------------------------------------

    def _row(self, t: float) -> list[float]:
        b = int(t / self.bucket_s)
        row = self.series.get(b)
        if row is None:
            row = self.series[b] = [0.0] * len(SERIES)
        return row

    def stream_started(self) -> None:
        self.counts["streams_started"] += 1

    def stream_finished(self) -> None:
        self.counts["streams_finished"] += 1

    def scheduled(self, t: float) -> None:
        """An arrival at intended time ``t`` (wall seconds from its stream's start)."""
        c = self.counts
        c["scheduled_all"] += 1
        if t >= self.warmup_s:
            c["scheduled"] += 1
            self._row(t)[_SCHEDULED] += 1

    def dropped(self, t: float) -> None:
        """An arrival not sent because its stream already had the most payments in flight."""
        c = self.counts
        c["dropped_all"] += 1
        if t >= self.warmup_s:
            c["dropped"] += 1
            self._row(t)[_DROPPED] += 1

    def sent(self, t: float, sent_s: float, lateness_ms: float, late: bool) -> None:
        """A request sent at ``sent_s``, ``lateness_ms`` after its intended time ``t``."""
        c = self.counts
        c["sent_all"] += 1
        measured = t >= self.warmup_s
        if measured:
            c["sent"] += 1
        if late:
            c["late_all"] += 1
            if measured:
                c["late"] += 1
        self.histograms["lateness"][LatencyHistogram.index(max(lateness_ms, 0.0))] += 1
        m = self.maxima
        m["max_lateness_ms"] = max(m["max_lateness_ms"], lateness_ms)
        m["last_send_s"] = max(m["last_send_s"], sent_s)

    def http_error(self, t: float, kind: str) -> None:
        """A request without a payment answer (5xx, timeout, connection error, ...)."""
        self.counts["errors_all"] += 1
        if t >= self.warmup_s:
            self.counters["http_errors"][kind] += 1
            self._row(t)[_ERRORS] += 1

    def answered(
        self,
        t: float,
        payment: Payment,
        answer: PaymentAnswer,
        latency_ms: float,
        latency_from_send_ms: float,
    ) -> None:
        """The router's answer to a payment intended at ``t``.

        ``latency_ms`` runs from the intended send time (corrected for coordinated
        omission: a late send does not hide the wait it caused), ``latency_from_send_ms``
        from the actual send.
        """
        c = self.counts
        c["answered_all"] += 1
        if t < self.warmup_s:
            return
        approved = answer.approved
        attempts = answer.attempts
        counters = self.counters
        c["payments"] += 1
        c["attempts"] += len(attempts)
        row = self._row(t)
        row[_PAYMENTS] += 1
        row[_LATENCY] += latency_ms
        self.histograms["latency"][LatencyHistogram.index(latency_ms)] += 1
        self.histograms["latency_from_send"][LatencyHistogram.index(latency_from_send_ms)] += 1
        if attempts:
            counters["first_attempts"][attempts[0].acquirer] += 1
        if len(attempts) > 1:
            c["cascaded"] += 1
        if approved:
            c["approved"] += 1
            c["approved_amount"] += payment.amount
            row[_APPROVED] += 1
            if len(attempts) == 1:
                c["first_attempt_approved"] += 1
            else:
                c["recovered"] += 1
        else:
            counters["declines_by_code"][answer.code] += 1
            counters["declines_by_class"][answer.decline_class or "unknown"] += 1
        bucket = f"{int(t / self.bucket_s)}|"
        fee_of = self._fee_of
        last = len(attempts) - 1
        for i, attempt in enumerate(attempts):
            acquirer = attempt.acquirer
            counters["attempts_by_acquirer"][acquirer] += 1
            counters["series_attempts"][bucket + acquirer] += 1
            # only the final attempt of an approved payment is its approval
            attempt_approved = approved and i == last
            if attempt_approved:
                counters["approvals_by_acquirer"][acquirer] += 1
            if attempt.outcome == "timeout":
                c["timeouts"] += 1
            if attempt.void in VOIDED:
                c["voided_late_approvals"] += 1
            if fee_of is not None and (fee := fee_of(acquirer, payment.network)) is not None:
                c["cost"] += fee.charge(payment.amount, attempt_approved)

    # -- reporting and merging ------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """Everything counted, as plain data (msgpack- and JSON-safe)."""
        return {
            "counts": dict(self.counts),
            "maxima": dict(self.maxima),
            "counters": {name: dict(counter) for name, counter in self.counters.items()},
            "histograms": {
                name: {str(i): n for i, n in hist.items()} for name, hist in self.histograms.items()
            },
            "series": {str(b): row for b, row in self.series.items()},
        }

    def drain(self) -> dict[str, Any]:
        """What was counted since the last drain; the tally starts again from zero."""
        report = self.report()
        self.reset()
        return report

    def merge(self, report: dict[str, Any]) -> None:
        """Add a report (from :meth:`report` or :meth:`drain`) to this tally."""
        for name, value in report["counts"].items():
            self.counts[name] = self.counts.get(name, 0) + value
        for name, value in report["maxima"].items():
            self.maxima[name] = max(self.maxima.get(name, 0.0), value)
        for name, values in report["counters"].items():
            self.counters.setdefault(name, Counter()).update(values)
        for name, values in report["histograms"].items():
            hist = self.histograms.setdefault(name, Counter())
            for index, n in values.items():
                hist[int(index)] += n
        for bucket, values in report["series"].items():
            row = self.series.setdefault(int(bucket), [0.0] * len(SERIES))
            for i, value in enumerate(values):
                row[i] += value

    @classmethod
    def from_report(
        cls, report: dict[str, Any], warmup_s: float = 0.0, bucket_s: float = 1.0
    ) -> LiveTally:
        tally = cls(warmup_s, bucket_s)
        tally.merge(report)
        return tally

    def histogram(self, name: str = "latency") -> LatencyHistogram:
        """One of the latency histograms as the result contract's :class:`LatencyHistogram`."""
        hist = LatencyHistogram()
        for index, n in self.histograms[name].items():
            hist.counts[index] += n
        return hist
