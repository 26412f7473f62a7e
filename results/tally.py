"""The one tally both engines count a run's payments into: bounded memory, mergeable.

Nothing is kept per payment: counters, per-bucket time series and a latency histogram
are updated as payments finish. The simulator calls :meth:`Tally.attempt` and
:meth:`Tally.payment` for every counted attempt and payment (compiled with mypyc: no
allocation on that path); the live harness calls the same two methods from the
router's answers (``loadtests.live_tally``). The payment lifecycle's counters are plain
int attributes the engines increment directly, one meaning each:

- ``timeouts``: attempts the router gave up waiting for;
- ``settled``: attempts with an unknown outcome that the router settled during the
  payment (the acquirer confirmed the void, or a status inquiry showed no approval);
- ``unsettled``: attempts whose outcome was still unknown when the payment finished
  (settled in the background);
- ``reversed_approvals``: approvals the acquirer made that a void reversed.

For the yardsticks (detection and recovery of an incident, payments lost to it,
``results.yardsticks``) it also keeps finer series, in buckets of ``share_bucket_s``
(5 s, or the time bucket if that is finer): first attempts per acquirer and approvals,
and first attempts per acquirer of the payments in each *watched* segment (an incident
restricted to some payments; the driver calls :meth:`Tally.watched` for those). The
scheme fees (``scheme_fees``, part of ``cost``), the attempts they were charged for
(``excess_attempts``) and the payments a scheme rule stopped (``scheme_stops``) are
counted at the payment's end (:meth:`Tally.scheme`), as is ``offered_amount``, the
amount of every counted payment.

A tally is plain data on the way out: :meth:`Tally.report` gives str keys, numbers and
flat dicts and lists (msgpack- and JSON-safe), :meth:`Tally.from_report` reads it back,
:meth:`Tally.merge` adds another tally or a report (replications pooled, Locust
workers merged on the master), and a tally pickles through its report (process pools).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from results.histogram import LatencyHistogram
from scenarios.taxonomy import OutcomeClass

REPORT_FORMAT = 2
# the lifecycle counters and the other whole-run counts, as report() names them
INT_COUNTS = (
    "payments",
    "approved",
    "first_attempt_approved",
    "attempts",
    "cascaded",
    "recovered",
    "timeouts",
    "settled",
    "unsettled",
    "reversed_approvals",
    "approved_amount",
    "offered_amount",
    "excess_attempts",
    "scheme_stops",
)
# the finest the yardsticks' share series are cut (seconds)
SHARE_BUCKET_S = 5.0


class Tally:
    """Counts of the payments one run (or one replication) counted.

    ``acquirers`` fixes the index each acquirer is counted under (the order of the
    scenario); :meth:`acquirer_index` adds one the scenario does not name. Time runs in
    the engine's own seconds from the start of the run, cut into buckets of
    ``bucket_s``: with ``open_ended`` false there are ``ceil(duration_s / bucket_s)``
    buckets and later times count in the last one; with ``open_ended`` true (a live
    generator that does not know how long its run is) buckets are added as time goes.
    """

    def __init__(
        self,
        acquirers: list[str],
        duration_s: float,
        bucket_s: float,
        open_ended: bool = False,
        watches: int = 0,
    ) -> None:
        if not bucket_s > 0.0:
            raise ValueError(f"bucket_s must be positive, got {bucket_s!r}")
        self.acquirers: list[str] = []
        self._index: dict[str, int] = {}
        self.bucket_s = bucket_s
        self.open_ended = open_ended
        # the 1e-9: a duration that is a whole number of buckets up to rounding
        self.n_buckets = max(1, math.ceil(duration_s / bucket_s - 1e-9))
        self._per_bucket = 1.0 / bucket_s
        # the yardsticks' finer series: first attempts per acquirer, approvals, watches
        self.share_bucket_s = min(SHARE_BUCKET_S, bucket_s)
        self.n_fine = max(1, math.ceil(duration_s / self.share_bucket_s - 1e-9))
        self._per_fine = 1.0 / self.share_bucket_s
        self.fine_first: list[list[int]] = []
        self.fine_approved = [0] * self.n_fine
        self.watches = watches
        self.watch_first: list[list[list[int]]] = [[] for _ in range(watches)]
        self.offered_amount = 0
        self.scheme_fees = 0.0
        self.excess_attempts = 0
        self.scheme_stops = 0
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
        self.first_attempts: list[int] = []
        self.attempts_by_acquirer: list[int] = []
        self.approvals_by_acquirer: list[int] = []
        self.declines_by_code: Counter[str] = Counter()
        self.declines_by_class: Counter[str] = Counter()
        self.latency = LatencyHistogram()
        self.series_payments = [0] * self.n_buckets
        self.series_approved = [0] * self.n_buckets
        self.series_latency_sum_ms = [0.0] * self.n_buckets
        self.series_attempts: list[list[int]] = []
        for name in acquirers:
            self.acquirer_index(name)

    # -- the hot path: one call per counted attempt and per counted payment ---------------

    def bucket(self, t: float) -> int:
        """The time-series bucket of time ``t``."""
        b = int(t * self._per_bucket)
        if b < self.n_buckets:
            return b
        if self.open_ended:
            self._grow(b + 1)
            return b
        return self.n_buckets - 1

    def attempt(self, acquirer: int, t_sent: float, approved: bool, fee: float) -> None:
        """An attempt sent at ``t_sent`` to acquirer number ``acquirer``, costing ``fee``."""
        self.attempts += 1
        self.attempts_by_acquirer[acquirer] += 1
        b = int(t_sent * self._per_bucket)
        if b >= self.n_buckets:
            b = self.bucket(t_sent)
        self.series_attempts[acquirer][b] += 1
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
        """A payment that arrived at ``t_arrival`` and finished ``latency_ms`` later.

        ``first_acquirer`` is the number of the acquirer of its first attempt, or -1 when
        it had none (a live router may answer without trying any acquirer).
        """
        self.payments += 1
        self.offered_amount += amount
        f = int(t_arrival * self._per_fine)
        if f >= self.n_fine:
            f = self.fine_bucket(t_arrival)
        if first_acquirer >= 0:
            self.first_attempts[first_acquirer] += 1
            self.fine_first[first_acquirer][f] += 1
        b = int(t_arrival * self._per_bucket)
        if b >= self.n_buckets:
            b = self.bucket(t_arrival)
        self.series_payments[b] += 1
        self.series_latency_sum_ms[b] += latency_ms
        self.latency.record(latency_ms)
        if attempts > 1:
            self.cascaded += 1
        if approved:
            self.approved += 1
            self.approved_amount += amount
            self.series_approved[b] += 1
            self.fine_approved[f] += 1
            if attempts == 1:
                self.first_attempt_approved += 1
            else:
                self.recovered += 1
        else:
            self.declines_by_code[code] += 1
            self.declines_by_class[outcome.value] += 1

    def fine_bucket(self, t: float) -> int:
        """The share-series bucket of time ``t``."""
        f = int(t * self._per_fine)
        if f < self.n_fine:
            return f
        if self.open_ended:
            self._grow_fine(f + 1)
            return f
        return self.n_fine - 1

    def watched(self, watch: int, first_acquirer: int, t_arrival: float) -> None:
        """A counted payment of watched segment ``watch`` had its first attempt at
        acquirer number ``first_acquirer`` (call it besides :meth:`payment`)."""
        self.watch_first[watch][first_acquirer][self.fine_bucket(t_arrival)] += 1

    def scheme(self, fees: float, excess_attempts: int, stopped: bool) -> None:
        """What the card schemes did to a counted payment: the fees they charged (added
        to ``cost``), how many attempts those were for, and whether a rule stopped it."""
        if fees:
            self.scheme_fees += fees
            self.cost += fees
        self.excess_attempts += excess_attempts
        if stopped:
            self.scheme_stops += 1

    # -- shape ----------------------------------------------------------------------------

    def acquirer_index(self, name: str) -> int:
        """The number ``name`` is counted under; an acquirer not seen yet is added."""
        index = self._index.get(name)
        if index is not None:
            return index
        index = len(self.acquirers)
        self._index[name] = index
        self.acquirers.append(name)
        self.first_attempts.append(0)
        self.attempts_by_acquirer.append(0)
        self.approvals_by_acquirer.append(0)
        self.series_attempts.append([0] * self.n_buckets)
        self.fine_first.append([0] * self.n_fine)
        for watch in self.watch_first:
            watch.append([0] * self.n_fine)
        return index

    def _grow_fine(self, n_fine: int) -> None:
        extra = n_fine - self.n_fine
        if extra <= 0:
            return
        self.fine_approved.extend([0] * extra)
        for series in self.fine_first:
            series.extend([0] * extra)
        for watch in self.watch_first:
            for series in watch:
                series.extend([0] * extra)
        self.n_fine = n_fine

    def _grow(self, n_buckets: int) -> None:
        extra = n_buckets - self.n_buckets
        if extra <= 0:
            return
        self.series_payments.extend([0] * extra)
        self.series_approved.extend([0] * extra)
        self.series_latency_sum_ms.extend([0.0] * extra)
        for series in self.series_attempts:
            series.extend([0] * extra)
        self.n_buckets = n_buckets

    # -- merging and plain data -----------------------------------------------------------

    def merge(self, other: Tally | dict[str, Any]) -> None:
        """Add another tally, or a :meth:`report` of one, to this one.

        Acquirers are matched by name. Both must cut time into the same buckets; an
        open-ended tally grows to the other's length, a fixed one refuses a longer one.
        """
        if isinstance(other, dict):
            other = Tally.from_report(other)
        if other.bucket_s != self.bucket_s or other.share_bucket_s != self.share_bucket_s:
            raise ValueError(
                f"cannot merge tallies with different buckets ({other.bucket_s:g} s "
                f"into {self.bucket_s:g} s)"
            )
        if other.n_buckets > self.n_buckets or other.n_fine > self.n_fine:
            if not self.open_ended:
                raise ValueError(
                    f"cannot merge a tally of {other.n_buckets} buckets into one of "
                    f"{self.n_buckets}"
                )
            self._grow(other.n_buckets)
            self._grow_fine(other.n_fine)
        if other.watches != self.watches:
            if self.watches:
                raise ValueError(
                    f"cannot merge a tally of {other.watches} watched segments into one "
                    f"of {self.watches}"
                )
            self._add_watches(other.watches)
        self.payments += other.payments
        self.approved += other.approved
        self.first_attempt_approved += other.first_attempt_approved
        self.attempts += other.attempts
        self.cascaded += other.cascaded
        self.recovered += other.recovered
        self.timeouts += other.timeouts
        self.settled += other.settled
        self.unsettled += other.unsettled
        self.reversed_approvals += other.reversed_approvals
        self.cost += other.cost
        self.approved_amount += other.approved_amount
        self.offered_amount += other.offered_amount
        self.scheme_fees += other.scheme_fees
        self.excess_attempts += other.excess_attempts
        self.scheme_stops += other.scheme_stops
        for j, name in enumerate(other.acquirers):
            a = self.acquirer_index(name)
            self.first_attempts[a] += other.first_attempts[j]
            self.attempts_by_acquirer[a] += other.attempts_by_acquirer[j]
            self.approvals_by_acquirer[a] += other.approvals_by_acquirer[j]
            mine, theirs = self.series_attempts[a], other.series_attempts[j]
            for b in range(other.n_buckets):
                mine[b] += theirs[b]
            pairs = [(self.fine_first[a], other.fine_first[j])]
            pairs += [
                (w[a], v[j]) for w, v in zip(self.watch_first, other.watch_first, strict=True)
            ]
            for mine, theirs in pairs:
                for f in range(other.n_fine):
                    mine[f] += theirs[f]
        for f in range(other.n_fine):
            self.fine_approved[f] += other.fine_approved[f]
        self.declines_by_code.update(other.declines_by_code)
        self.declines_by_class.update(other.declines_by_class)
        self.latency.merge(other.latency)
        for b in range(other.n_buckets):
            self.series_payments[b] += other.series_payments[b]
            self.series_approved[b] += other.series_approved[b]
            self.series_latency_sum_ms[b] += other.series_latency_sum_ms[b]

    def _add_watches(self, watches: int) -> None:
        """Watched segments for a tally that had none (pooling starts from empty)."""
        self.watches = watches
        self.watch_first = [[[0] * self.n_fine for _ in self.acquirers] for _ in range(watches)]

    def report(self) -> dict[str, Any]:
        """Everything counted, as plain data: str keys, numbers, flat dicts and lists."""
        names = self.acquirers
        report: dict[str, Any] = {
            "format": REPORT_FORMAT,
            "acquirers": list(names),
            "bucket_s": self.bucket_s,
            "n_buckets": self.n_buckets,
            "open_ended": self.open_ended,
            "payments": self.payments,
            "approved": self.approved,
            "first_attempt_approved": self.first_attempt_approved,
            "attempts": self.attempts,
            "cascaded": self.cascaded,
            "recovered": self.recovered,
            "timeouts": self.timeouts,
            "settled": self.settled,
            "unsettled": self.unsettled,
            "reversed_approvals": self.reversed_approvals,
            "approved_amount": self.approved_amount,
            "cost": self.cost,
            "first_attempts": dict(zip(names, self.first_attempts, strict=True)),
            "attempts_by_acquirer": dict(zip(names, self.attempts_by_acquirer, strict=True)),
            "approvals_by_acquirer": dict(zip(names, self.approvals_by_acquirer, strict=True)),
            "declines_by_code": dict(self.declines_by_code),
            "declines_by_class": dict(self.declines_by_class),
            # sparse: a few dozen of the histogram's buckets hold anything
            "latency": {str(i): n for i, n in enumerate(self.latency.counts) if n},
            "series_payments": list(self.series_payments),
            "series_approved": list(self.series_approved),
            "series_latency_sum_ms": list(self.series_latency_sum_ms),
            "series_attempts": {
                name: list(series) for name, series in zip(names, self.series_attempts, strict=True)
            },
            "offered_amount": self.offered_amount,
            "scheme_fees": self.scheme_fees,
            "excess_attempts": self.excess_attempts,
            "scheme_stops": self.scheme_stops,
            "share_bucket_s": self.share_bucket_s,
            "n_fine": self.n_fine,
            "fine_approved": list(self.fine_approved),
            "fine_first": {
                name: list(series) for name, series in zip(names, self.fine_first, strict=True)
            },
            "watch_first": [
                {name: list(series) for name, series in zip(names, watch, strict=True)}
                for watch in self.watch_first
            ],
        }
        return report

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> Tally:
        """The tally a :meth:`report` was made of."""
        if report.get("format") != REPORT_FORMAT:
            raise ValueError(f"not a tally report of format {REPORT_FORMAT}")
        bucket_s = float(report["bucket_s"])
        n_buckets = int(report["n_buckets"])
        n_fine = int(report["n_fine"])
        watches: list[dict[str, Any]] = report["watch_first"]
        tally = cls([str(a) for a in report["acquirers"]], 0.0, bucket_s, True, len(watches))
        if float(report["share_bucket_s"]) != tally.share_bucket_s:
            raise ValueError("a tally report's share_bucket_s does not follow its bucket_s")
        tally._grow(n_buckets)
        tally._grow_fine(n_fine)
        tally.open_ended = bool(report["open_ended"])
        tally.payments = int(report["payments"])
        tally.approved = int(report["approved"])
        tally.first_attempt_approved = int(report["first_attempt_approved"])
        tally.attempts = int(report["attempts"])
        tally.cascaded = int(report["cascaded"])
        tally.recovered = int(report["recovered"])
        tally.timeouts = int(report["timeouts"])
        tally.settled = int(report["settled"])
        tally.unsettled = int(report["unsettled"])
        tally.reversed_approvals = int(report["reversed_approvals"])
        tally.approved_amount = int(report["approved_amount"])
        tally.cost = float(report["cost"])
        tally.offered_amount = int(report["offered_amount"])
        tally.scheme_fees = float(report["scheme_fees"])
        tally.excess_attempts = int(report["excess_attempts"])
        tally.scheme_stops = int(report["scheme_stops"])
        first: dict[str, Any] = report["first_attempts"]
        tried: dict[str, Any] = report["attempts_by_acquirer"]
        approvals: dict[str, Any] = report["approvals_by_acquirer"]
        series: dict[str, Any] = report["series_attempts"]
        for a, name in enumerate(tally.acquirers):
            tally.first_attempts[a] = int(first[name])
            tally.attempts_by_acquirer[a] = int(tried[name])
            tally.approvals_by_acquirer[a] = int(approvals[name])
            tally.series_attempts[a] = [int(n) for n in series[name]]
            tally.fine_first[a] = [int(n) for n in report["fine_first"][name]]
            for w, watch in enumerate(watches):
                tally.watch_first[w][a] = [int(n) for n in watch[name]]
        for code, n in report["declines_by_code"].items():
            tally.declines_by_code[str(code)] = int(n)
        for outcome, n in report["declines_by_class"].items():
            tally.declines_by_class[str(outcome)] = int(n)
        for index, n in report["latency"].items():
            tally.latency.counts[int(index)] = int(n)
        tally.series_payments = [int(n) for n in report["series_payments"]]
        tally.series_approved = [int(n) for n in report["series_approved"]]
        tally.series_latency_sum_ms = [float(x) for x in report["series_latency_sum_ms"]]
        tally.fine_approved = [int(n) for n in report["fine_approved"]]
        lengths = [len(tally.series_payments), len(tally.series_approved)]
        lengths += [len(tally.series_latency_sum_ms)]
        lengths += [len(column) for column in tally.series_attempts]
        if any(n != n_buckets for n in lengths):
            raise ValueError(f"a tally report's series must have {n_buckets} buckets each")
        fine = [len(tally.fine_approved)] + [len(column) for column in tally.fine_first]
        fine += [len(column) for watch in tally.watch_first for column in watch]
        if any(n != n_fine for n in fine):
            raise ValueError(f"a tally report's share series must have {n_fine} buckets each")
        return tally

    def __reduce__(self) -> tuple[Any, ...]:
        # mypyc's native classes do not pickle by their attributes: through the report
        return (restore_tally, (self.report(),))


def restore_tally(report: dict[str, Any]) -> Tally:
    """Unpickle a :class:`Tally` (see ``Tally.__reduce__``)."""
    return Tally.from_report(report)
