"""SLO gates of a live run: the scenario's ``slo`` section, command-line overrides, verdicts.

A gate is either a ceiling (``p99_ms``, ``error_rate_max``) or a floor
(``auth_rate_min``, ``achieved_ratio_min``). A breach reads
``SLO breached: p99_ms 812.4 > 500 (+62.5 %)``: the gate, what was measured, the
limit, and by how much relative to the limit. A gate the run could not measure (no
payments answered; no offered rate in the closed model) is reported, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from results.contract import RunSummary
from scenarios.schema import Slo

EXIT_SLO_BREACHED = 3
GATES: dict[str, Literal["max", "min"]] = {
    "p99_ms": "max",
    "auth_rate_min": "min",
    "error_rate_max": "max",
    "achieved_ratio_min": "min",
}


class SloError(ValueError):
    """An SLO override that names no gate or gives no valid value."""


def parse_overrides(items: Sequence[str]) -> dict[str, float]:
    """``["auth_rate_min=0.9", ...]`` as ``{name: value}``; raises :class:`SloError`."""
    known = ", ".join(Slo.model_fields)
    overrides: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise SloError(
                f"--slo {item!r}: expected NAME=VALUE, e.g. auth_rate_min=0.9 (names: {known})"
            )
        if name not in Slo.model_fields:
            raise SloError(f"--slo {item!r}: unknown SLO {name!r} (known: {known})")
        try:
            value = float(text)
        except ValueError:
            raise SloError(f"--slo {item!r}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise SloError(f"--slo {item!r}: the value must be finite")
        overrides[name] = value
    return overrides


def effective_slo(base: Slo, items: Sequence[str]) -> Slo:
    """The scenario's SLOs with command-line overrides applied and validated."""
    overrides = parse_overrides(items)
    try:
        return Slo.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "slo"
        raise SloError(
            f"--slo {name}={overrides.get(name, '?')}: {error['msg'].removeprefix('Value error, ')}"
        ) from None


@dataclass(frozen=True)
class Observed:
    """The figures the gates judge; None where the run could not measure one."""

    p99_ms: float | None
    auth_rate: float | None
    error_rate: float | None
    achieved_ratio: float | None

    @classmethod
    def from_summary(cls, summary: RunSummary) -> Observed:
        ratio = None
        if summary.offered_rate and summary.achieved_rate is not None:
            ratio = summary.achieved_rate / summary.offered_rate
        return cls(summary.latency_ms.p99, summary.auth_rate, summary.http_error_rate, ratio)

    def value(self, gate: str) -> float | None:
        value = {
            "p99_ms": self.p99_ms,
            "auth_rate_min": self.auth_rate,
            "error_rate_max": self.error_rate,
            "achieved_ratio_min": self.achieved_ratio,
        }[gate]
        return None if value is None or math.isnan(value) else value


@dataclass(frozen=True)
class Breach:
    """One gate the run failed."""

    gate: str
    measured: float
    limit: float

    @property
    def kind(self) -> Literal["max", "min"]:
        return GATES[self.gate]

    def line(self) -> str:
        op = ">" if self.kind == "max" else "<"
        if self.limit:
            rel = f"({(self.measured - self.limit) / self.limit * 100.0:+.1f} %)"
        else:
            rel = "(the limit is 0)"
        return f"SLO breached: {self.gate} {_num(self.measured)} {op} {_num(self.limit)} {rel}"


@dataclass(frozen=True)
class Verdict:
    """What the gates say about a run."""

    breaches: list[Breach]
    passed: list[str]  # "p99_ms 240.1 <= 500"
    unmeasured: list[str]  # gates set but not measurable in this run

    @property
    def ok(self) -> bool:
        return not self.breaches


def evaluate(slo: Slo, observed: Observed) -> Verdict:
    """Judge every gate that is set."""
    breaches: list[Breach] = []
    passed: list[str] = []
    unmeasured: list[str] = []
    for gate, kind in GATES.items():
        limit = getattr(slo, gate)
        if limit is None:
            continue
        measured = observed.value(gate)
        if measured is None:
            unmeasured.append(f"{gate}: not measured in this run (limit {_num(limit)})")
            continue
        if (kind == "max" and measured > limit) or (kind == "min" and measured < limit):
            breaches.append(Breach(gate, measured, limit))
        else:
            op = "<=" if kind == "max" else ">="
            passed.append(f"{gate} {_num(measured)} {op} {_num(limit)}")
    return Verdict(breaches, passed, unmeasured)


def _num(value: float) -> str:
    """Readable figures: 500, 812.4, 12345.6, 0.8712."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 100.0:
        return f"{value:.1f}"
    return f"{value:.4g}"
