"""Prometheus metrics of the routing service (``GET /metrics``).

Each app gets its own registry, so several routers can live in one process (tests).
Labelled children are cached: looking a label set up costs more than incrementing it,
and this runs for every payment and attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# seconds; dense where card authorisations live (100 ms - 2 s), sparse in the tail
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    4.0,
    6.0,
    10.0,
    30.0,
)


class _EngineCollector(Collector):
    """Strategy scores and the policy version, read from the live engine at scrape time."""

    def __init__(
        self,
        scores: Callable[[], dict[str, dict[str, float]]],
        policy: Callable[[], tuple[str, int]],
    ) -> None:
        self._scores = scores
        self._policy = policy

    def collect(self) -> Iterator[Metric]:
        score = GaugeMetricFamily(
            "routelab_router_strategy_score",
            "Success-rate score per segment and acquirer",
            labels=["segment", "acquirer"],
        )
        for segment, by_acquirer in self._scores().items():
            for acquirer, value in by_acquirer.items():
                score.add_metric([segment, acquirer], value)
        yield score
        name, version = self._policy()
        policy = GaugeMetricFamily(
            "routelab_router_policy_version",
            "Routing policy version (1 at start, +1 per hot swap)",
            labels=["policy"],
        )
        policy.add_metric([name], float(version))
        yield policy


class PoolStats(Protocol):
    """What the acquirer connection pool tells about itself (``ConnectionSlots``)."""

    size: int
    in_use: int
    waits: int
    exhausted: int


class _RowsWritten(Protocol):
    rows_written: int


class AttemptLogStats(Protocol):
    """What the attempt log tells about itself (``router.attempt_log.RouterAttemptLog``)."""

    @property
    def writer(self) -> _RowsWritten: ...
    @property
    def dropped(self) -> int: ...


class _PoolCollector(Collector):
    """The connection pool's occupancy and waits, read at scrape time."""

    def __init__(self, pool: PoolStats) -> None:
        self._pool = pool

    def collect(self) -> Iterator[Metric]:
        pool = self._pool
        size = GaugeMetricFamily(
            "routelab_router_pool_connections", "Connections to acquirers", labels=["state"]
        )
        size.add_metric(["in_use"], float(pool.in_use))
        size.add_metric(["limit"], float(pool.size))
        yield size
        waits = CounterMetricFamily(
            "routelab_router_pool_waits",
            "Acquirer calls that found no free connection, by how the wait ended",
            labels=["result"],
        )
        waits.add_metric(["waited"], float(pool.waits - pool.exhausted))
        waits.add_metric(["exhausted"], float(pool.exhausted))
        yield waits


class _AttemptLogCollector(Collector):
    """The attempt log's rows written and dropped (a full buffer), read at scrape time."""

    def __init__(self, log: AttemptLogStats) -> None:
        self._log = log

    def collect(self) -> Iterator[Metric]:
        rows = CounterMetricFamily(
            "routelab_router_attempt_log_rows",
            "Attempt log rows, by what became of them",
            labels=["result"],
        )
        rows.add_metric(["written"], float(self._log.writer.rows_written))
        rows.add_metric(["dropped"], float(self._log.dropped))
        yield rows


class RouterMetrics:
    """The service's counters, histograms and gauges."""

    def __init__(self) -> None:
        # "_created" series double the exposition and no dashboard of ours reads them
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._payments = Counter(
            "routelab_router_payments",
            "Payments by final outcome",
            ["outcome", "acquirer"],
            registry=r,
        )
        self._attempts = Counter(
            "routelab_router_attempts", "Authorisation attempts", ["acquirer", "class"], registry=r
        )
        self._voids = Counter(
            "routelab_router_voids",
            "Voids after uncertain attempts",
            ["acquirer", "result"],
            registry=r,
        )
        self._payment_latency = Histogram(
            "routelab_router_payment_latency_seconds",
            "End-to-end payment latency",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._attempt_latency = Histogram(
            "routelab_router_attempt_latency_seconds",
            "Attempt latency per acquirer",
            ["acquirer"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "routelab_router_payments_in_flight", "Payments being routed now", registry=r
        )
        self.admission_cap = Gauge(
            "routelab_router_admission_cap",
            "Payments that may be in flight at once; above it new payments get 503",
            registry=r,
        )
        self.unresolved = Gauge(
            "routelab_router_unresolved_attempts", "Attempts awaiting a late void check", registry=r
        )
        self.rejected = Counter(
            "routelab_router_rejected_requests",
            "Requests refused before routing",
            ["reason"],
            registry=r,
        )
        self.replays = Counter(
            "routelab_router_idempotent_replays",
            "Answers served from the idempotency store",
            registry=r,
        )
        self.recovered = Counter(
            "routelab_router_recovered_payments",
            "Payments found unfinished in the journal at start and finished then",
            ["outcome"],
            registry=r,
        )
        self.journal_failures = Counter(
            "routelab_router_journal_failures",
            "Records the payment journal could not take",
            registry=r,
        )
        self._children: dict[tuple[str, ...], tuple[Counter, Histogram]] = {}
        self._attempt_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}

    def watch_engine(
        self,
        scores: Callable[[], dict[str, dict[str, float]]],
        policy: Callable[[], tuple[str, int]],
    ) -> None:
        self.registry.register(_EngineCollector(scores, policy))

    def watch_pool(self, pool: PoolStats) -> None:
        self.registry.register(_PoolCollector(pool))

    def watch_attempt_log(self, log: AttemptLogStats) -> None:
        self.registry.register(_AttemptLogCollector(log))

    def payment(self, outcome: str, acquirer: str | None, latency_s: float) -> None:
        key = (outcome, acquirer or "none")
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self._payments.labels(*key),
                self._payment_latency.labels(outcome),
            )
        children[0].inc()
        children[1].observe(latency_s)

    def attempt(self, acquirer: str, outcome_class: str, latency_s: float) -> None:
        key = (acquirer, outcome_class)
        children = self._attempt_children.get(key)
        if children is None:
            children = self._attempt_children[key] = (
                self._attempts.labels(*key),
                self._attempt_latency.labels(acquirer),
            )
        children[0].inc()
        children[1].observe(latency_s)

    def void(self, acquirer: str, result: str) -> None:
        self._voids.labels(acquirer, result).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
