"""The headline metrics of a run, with the plain labels and units reports show them in.

One table of :class:`Metric` drives the HTML reports, the terminal table and the
comparisons, so a figure is named, rounded and compared the same way everywhere. Values
may be ``None`` (undefined: no payments, no approvals): they render as "n/a".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from results.contract import ReplicationFigures, RunSummary
from results.stats import defined

NA = "n/a"
NBSP = "\u00a0"  # keeps a number and its unit on one line
MINOR_PER_MAJOR = 100.0  # scenario amounts and fixed fees are in minor units (cents)


def pct(value: float | None, digits: int = 2) -> str:
    """A fraction as a percentage: 0.9092 -> "90.92 %"."""
    return f"{100.0 * value:.{digits}f}{NBSP}%" if defined(value) else NA


def pp(value: float | None, digits: int = 2) -> str:
    """A difference of fractions in percentage points, signed: 0.0175 -> "+1.75 pp"."""
    return f"{100.0 * value:+.{digits}f}{NBSP}pp" if defined(value) else NA


def ms(value: float | None, signed: bool = False) -> str:
    if not defined(value):
        return NA
    return f"{value:+,.0f}{NBSP}ms" if signed else f"{value:,.0f}{NBSP}ms"


def money(minor: float | None, signed: bool = False) -> str:
    """Minor currency units (cents) as major units with two decimals."""
    if not defined(minor):
        return NA
    major = minor / MINOR_PER_MAJOR
    return f"{major:+,.3f}" if signed else f"{major:,.3f}"


def bps(value: float | None, signed: bool = False) -> str:
    if not defined(value):
        return NA
    return f"{value:+,.1f}{NBSP}bps" if signed else f"{value:,.1f}{NBSP}bps"


def count(value: float | None) -> str:
    return f"{value:,.0f}" if defined(value) else NA


def plain(value: float | None, digits: int = 3, signed: bool = False) -> str:
    if not defined(value):
        return NA
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


Kind = Literal["rate", "ms", "money", "bps", "ratio"]
Better = Literal["higher", "lower", "neither"]


@dataclass(frozen=True)
class Metric:
    """A headline figure: how to read it from a summary, label it and format it."""

    key: str
    label: str
    kind: Kind
    better: Better
    of_summary: Callable[[RunSummary], float | None]
    # per-replication value, for paired and Welch differences; None: not kept per replication
    of_replication: Callable[[ReplicationFigures], float | None] | None = None
    note: str = ""
    short: str = ""  # for narrow terminal tables

    def value(self, summary: RunSummary) -> float | None:
        value = self.of_summary(summary)
        return value if defined(value) else None

    def format(self, value: float | None) -> str:
        return _FORMAT[self.kind](value, False)

    def format_difference(self, value: float | None) -> str:
        return _FORMAT[self.kind](value, True)

    def format_range(
        self, low: float | None, high: float | None, signed: bool = False, unit: bool = True
    ) -> str:
        return format_range(self.kind, low, high, signed, unit)

    def replication_values(self, summary: RunSummary) -> list[float] | None:
        """Per-replication values, or None if this metric is not kept per replication."""
        if self.of_replication is None or not summary.per_replication:
            return None
        values = [self.of_replication(r) for r in summary.per_replication]
        if any(not defined(v) for v in values):
            return None
        return [float(v) for v in values if v is not None]


_FORMAT: dict[Kind, Callable[[float | None, bool], str]] = {
    "rate": lambda v, signed: pp(v) if signed else pct(v),
    "ms": ms,
    "money": money,
    "bps": bps,
    "ratio": lambda v, signed: plain(v, 3, signed),
}

# kind -> (scale, unit suffix, decimals) for intervals that print the unit once
_BARE: dict[Kind, tuple[float, str, int]] = {
    "rate": (100.0, f"{NBSP}%", 2),
    "ms": (1.0, f"{NBSP}ms", 0),
    "money": (1.0 / MINOR_PER_MAJOR, "", 3),
    "bps": (1.0, f"{NBSP}bps", 1),
    "ratio": (1.0, "", 3),
}


def format_range(
    kind: Kind, low: float | None, high: float | None, signed: bool = False, unit: bool = True
) -> str:
    """An interval with the unit once: "[+1.60, +1.89] pp" (a difference), "671 – 780 ms"."""
    if not (defined(low) and defined(high)):
        return NA
    scale, suffix, digits = _BARE[kind]
    if signed and kind == "rate":
        suffix = f"{NBSP}pp"
    if not unit:
        suffix = ""
    spec = f"{'+' if signed else ''},.{digits}f"
    lo, hi = format(low * scale, spec), format(high * scale, spec)
    return f"[{lo}, {hi}]{suffix}" if signed else f"{lo} – {hi}{suffix}"


AUTH_RATE = Metric(
    "auth_rate",
    "Authorisation rate",
    "rate",
    "higher",
    lambda s: s.auth_rate,
    lambda r: r.auth_rate,
    "share of payments approved, after any retries",
    "auth rate",
)
FIRST_ATTEMPT = Metric(
    "first_attempt_auth_rate",
    "First-attempt authorisation rate",
    "rate",
    "higher",
    lambda s: s.first_attempt_auth_rate,
    lambda r: r.first_attempt_auth_rate,
    "share of payments approved by the first acquirer tried",
    "first attempt",
)
ATTEMPTS = Metric(
    "attempts_per_payment",
    "Attempts per payment",
    "ratio",
    "lower",
    lambda s: s.attempts_per_payment,
    lambda r: r.attempts_per_payment,
    "1.000 means no payment was retried",
    "attempts",
)
COST_PER_APPROVED = Metric(
    "cost_per_approved",
    "Cost per approved payment",
    "money",
    "lower",
    lambda s: s.cost.per_approved,
    lambda r: r.cost_per_approved,
    "acquirer fees, in major currency units (e.g. EUR)",
    "cost/approved",
)
COST_BPS = Metric(
    "cost_bps",
    "Cost in basis points",
    "bps",
    "lower",
    lambda s: s.cost.bps,
    lambda r: r.cost_bps,
    "acquirer fees per approved amount; 100 bps = 1 %",
    "cost bps",
)
LATENCY_P50 = Metric(
    "latency_p50",
    "Latency, median (p50)",
    "ms",
    "lower",
    lambda s: s.latency_ms.p50,
    None,
    "end to end, as the payer waits",
    "p50",
)
LATENCY_P95 = Metric(
    "latency_p95",
    "Latency, p95",
    "ms",
    "lower",
    lambda s: s.latency_ms.p95,
    lambda r: r.latency_p95_ms,
    "95 % of payments finished faster than this",
    "p95",
)
LATENCY_P99 = Metric(
    "latency_p99",
    "Latency, p99",
    "ms",
    "lower",
    lambda s: s.latency_ms.p99,
    None,
    "99 % of payments finished faster than this",
    "p99",
)

HEADLINE: list[Metric] = [
    AUTH_RATE,
    FIRST_ATTEMPT,
    ATTEMPTS,
    COST_PER_APPROVED,
    COST_BPS,
    LATENCY_P50,
    LATENCY_P95,
    LATENCY_P99,
]

CLASS_LABELS: dict[str, str] = {
    "soft_decline": "Soft decline (may succeed later or elsewhere)",
    "hard_decline": "Hard decline (never retry)",
    "technical_error": "Technical error (acquirer or issuer path failed)",
    "timeout": "Timeout (no answer in time)",
}

ENGINE_LABELS: dict[str, str] = {
    "simulator": "simulator (virtual time)",
    "live": "live load test (HTTP, wall-clock time)",
}


def first_attempt_approved(summary: RunSummary) -> int:
    """Payments approved on their first attempt (every other approval was a retry's)."""
    return summary.approved - summary.cascade.get("recovered", 0)


def incident_text(summary: RunSummary) -> list[str]:
    """One plain line per incident window: "acq_a_outage on acq_a, 10:00-20:00"."""
    return [
        f"{i.name} on {i.acquirer}, {clock(i.start_s)}–{clock(i.end_s)}" for i in summary.incidents
    ]


def clock(seconds: float) -> str:
    """Seconds since the start of the run as m:ss (or h:mm:ss)."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
