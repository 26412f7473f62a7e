"""A live run's counts: the shared results tally, plus the load generator's own health.

Every payment figure is counted in a :class:`results.tally.Tally`, the same tally the
simulator counts into, fed by :func:`count_answer`: the one place a router answer
becomes tally calls. :class:`LiveTally` wraps it with what only a load generator has:
arrivals scheduled, sends (late or not), arrivals dropped, HTTP errors, lateness and
latency measured from the actual send.

Each worker process keeps a :class:`LiveTally` of the payments it sent; every few
seconds Locust asks it for a report (``events.report_to_master``) and it hands over
what it counted since the last report (:meth:`LiveTally.drain`); the master merges
the reports into one tally (``events.worker_report``). Reports are plain dicts of
str keys, numbers, lists and dicts, so they travel as msgpack and store as JSON.

Figures count only payments whose intended send time is past the warm-up, as the
simulator counts only payments that arrive after it; the generator's health
(scheduled, sent, late, dropped) is also counted over the whole run. Times are wall
seconds from the start of the payment's stream. Nothing is kept per payment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from loadtests.payer import PaymentAnswer
from results.histogram import LatencyHistogram
from results.tally import Tally
from scenarios.sampler import Payment
from scenarios.schema import Fee, FeeSchedule, Scenario
from scenarios.taxonomy import OutcomeClass, classify

# per-bucket health columns, in order (the payment columns are the tally's)
SERIES = ("scheduled", "http_errors", "dropped")
_SCHEDULED, _ERRORS, _DROPPED = range(len(SERIES))

# what an attempt's ``void`` says about an unknown outcome (router/reversals.py):
# settled while the payment was being routed, or only after it finished
SETTLED = frozenset({"voided", "nothing_approved"})
UNSETTLED_PREFIX = "late_"  # late_voided, late_nothing_approved: settled in the background
UNCONFIRMED = "unconfirmed"
TIMEOUT = OutcomeClass.TIMEOUT.value

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
    # after warm-up
    "scheduled",
    "sent",
    "late",
    "dropped",
)
MAXIMA = ("max_lateness_ms", "last_send_s")  # merged by max
HISTOGRAMS = ("latency_from_send", "lateness")

FeeOf = Callable[[str, str], Fee | None]  # (acquirer, network) -> fee schedule


def fee_schedule(scenario: Scenario) -> FeeOf:
    """The scenario's fee per (acquirer, network); None for an acquirer it does not know."""
    return FeeSchedule(scenario.acquirers).fee


def _final_class(answer: PaymentAnswer) -> OutcomeClass:
    """The decline class of a payment the router did not approve."""
    if answer.decline_class is not None:
        try:
            return OutcomeClass(answer.decline_class)
        except ValueError:
            pass  # not one of ours: the class of its code, as when none is given
    return classify(answer.code).outcome


def count_answer(
    tally: Tally,
    t: float,
    payment: Payment,
    answer: PaymentAnswer,
    latency_ms: float,
    fee_of: FeeOf | None = None,
) -> None:
    """Count the router's answer to ``payment`` (intended at ``t``) into ``tally``.

    The calls the simulator makes for a payment it simulated: one ``attempt`` per
    attempt the router reports (only the final attempt of an approved payment is an
    approval; the fee is the scenario's for that acquirer, nothing for one it does not
    know), the lifecycle counters from each attempt's class and ``void``, then one
    ``payment``, with the scheme fees the router reports (``schemes``) as the simulator
    counts its own. Reversed approvals are not in an answer: they come from the
    acquirers' ledgers after the run.
    """
    approved = answer.approved
    attempts = answer.attempts
    last = len(attempts) - 1
    first = -1
    for i, attempt in enumerate(attempts):
        acquirer = attempt.acquirer
        a = tally.acquirer_index(acquirer)
        if i == 0:
            first = a
        attempt_approved = approved and i == last
        fee = 0.0
        if fee_of is not None and (schedule := fee_of(acquirer, payment.network)) is not None:
            fee = schedule.charge(payment.amount, attempt_approved)
        tally.attempt(a, t, attempt_approved, fee)
        if attempt.outcome == TIMEOUT:
            tally.timeouts += 1
        void = attempt.void
        if void is not None:
            if void in SETTLED:
                tally.settled += 1
            elif void == UNCONFIRMED or void.startswith(UNSETTLED_PREFIX):
                tally.unsettled += 1
    if answer.excess_attempts or answer.scheme_stopped:
        tally.scheme(answer.scheme_fees, answer.excess_attempts, answer.scheme_stopped)
    outcome = OutcomeClass.APPROVED if approved else _final_class(answer)
    tally.payment(
        t, first, len(attempts), approved, answer.code, outcome, latency_ms, payment.amount
    )


def _sparse(histogram: LatencyHistogram) -> dict[str, int]:
    return {str(i): n for i, n in enumerate(histogram.counts) if n}


class LiveTally:
    """One process's counts, or all workers' after merging their reports."""

    def __init__(
        self, warmup_s: float = 0.0, bucket_s: float = 1.0, fee_of: FeeOf | None = None
    ) -> None:
        if not bucket_s > 0.0:
            raise ValueError("bucket_s must be positive")
        self.warmup_s = warmup_s
        self.bucket_s = bucket_s
        self._per_bucket = 1.0 / bucket_s  # as the tally computes its buckets
        self._fee_of = fee_of
        self.reset()

    def reset(self) -> None:
        # open-ended: a generator's last answers may come in after the planned end
        self.tally = Tally([], 0.0, self.bucket_s, open_ended=True)
        self.health: dict[str, float] = dict.fromkeys(COUNTS, 0)
        self.maxima: dict[str, float] = dict.fromkeys(MAXIMA, 0.0)
        self.http_errors: Counter[str] = Counter()
        self.histograms: dict[str, LatencyHistogram] = {
            name: LatencyHistogram() for name in HISTOGRAMS
        }
        self.series: dict[int, list[int]] = {}  # bucket -> SERIES

    @property
    def counts(self) -> dict[str, float]:
        """The generator's counts, with the tally's payments and approvals (read only)."""
        return {**self.health, "payments": self.tally.payments, "approved": self.tally.approved}

    # -- recording (the hot path: one call per event) -------------------------------------

    def _row(self, t: float) -> list[int]:
        b = int(t * self._per_bucket)
        row = self.series.get(b)
        if row is None:
            row = self.series[b] = [0] * len(SERIES)
        return row

    def stream_started(self) -> None:
        self.health["streams_started"] += 1

    def stream_finished(self) -> None:
        self.health["streams_finished"] += 1

    def scheduled(self, t: float) -> None:
        """An arrival at intended time ``t`` (wall seconds from its stream's start)."""
        c = self.health
        c["scheduled_all"] += 1
        if t >= self.warmup_s:
            c["scheduled"] += 1
            self._row(t)[_SCHEDULED] += 1

    def dropped(self, t: float) -> None:
        """An arrival not sent because its stream already had the most payments in flight."""
        c = self.health
        c["dropped_all"] += 1
        if t >= self.warmup_s:
            c["dropped"] += 1
            self._row(t)[_DROPPED] += 1

    def sent(self, t: float, sent_s: float, lateness_ms: float, late: bool) -> None:
        """A request sent at ``sent_s``, ``lateness_ms`` after its intended time ``t``."""
        c = self.health
        c["sent_all"] += 1
        measured = t >= self.warmup_s
        if measured:
            c["sent"] += 1
        if late:
            c["late_all"] += 1
            if measured:
                c["late"] += 1
        self.histograms["lateness"].record(max(lateness_ms, 0.0))
        m = self.maxima
        m["max_lateness_ms"] = max(m["max_lateness_ms"], lateness_ms)
        m["last_send_s"] = max(m["last_send_s"], sent_s)

    def http_error(self, t: float, kind: str) -> None:
        """A request without a payment answer (5xx, timeout, connection error, ...)."""
        self.health["errors_all"] += 1
        if t >= self.warmup_s:
            self.http_errors[kind] += 1
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
        self.health["answered_all"] += 1
        if t < self.warmup_s:
            return
        self.histograms["latency_from_send"].record(latency_from_send_ms)
        count_answer(self.tally, t, payment, answer, latency_ms, self._fee_of)

    # -- reporting and merging ------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """Everything counted, as plain data (msgpack- and JSON-safe)."""
        return {
            "tally": self.tally.report(),
            "counts": dict(self.health),
            "maxima": dict(self.maxima),
            "http_errors": dict(self.http_errors),
            "histograms": {name: _sparse(h) for name, h in self.histograms.items()},
            "series": {str(b): row for b, row in self.series.items()},
        }

    def drain(self) -> dict[str, Any]:
        """What was counted since the last drain; the tally starts again from zero."""
        report = self.report()
        self.reset()
        return report

    def merge(self, report: dict[str, Any]) -> None:
        """Add a report (from :meth:`report` or :meth:`drain`) to this tally."""
        self.tally.merge(report["tally"])
        for name, value in report["counts"].items():
            self.health[name] = self.health.get(name, 0) + value
        for name, value in report["maxima"].items():
            self.maxima[name] = max(self.maxima.get(name, 0.0), value)
        self.http_errors.update(report["http_errors"])
        for name, values in report["histograms"].items():
            counts = self.histograms.setdefault(name, LatencyHistogram()).counts
            for index, n in values.items():
                counts[int(index)] += n
        for bucket, values in report["series"].items():
            row = self.series.setdefault(int(bucket), [0] * len(SERIES))
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
        """A latency histogram: ``latency`` (the tally's), ``latency_from_send``, ``lateness``."""
        source = self.tally.latency if name == "latency" else self.histograms[name]
        return LatencyHistogram(list(source.counts))

    def health_series(self, n_buckets: int) -> dict[str, list[int]]:
        """The per-bucket health columns over ``n_buckets`` (later ones in the last)."""
        columns = {name: [0] * n_buckets for name in SERIES}
        for b, row in self.series.items():
            i = min(b, n_buckets - 1)
            for name, value in zip(SERIES, row, strict=True):
                columns[name][i] += value
        return columns
