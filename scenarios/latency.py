"""Latency models of the scenario format: how long an acquirer takes to answer (ms)."""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator

from scenarios.conditions import StrictModel
from scenarios.fields import NonNegative, Positive, above


class FixedLatency(StrictModel):
    dist: Literal["fixed"]
    ms: NonNegative


class UniformLatency(StrictModel):
    dist: Literal["uniform"]
    low_ms: NonNegative
    high_ms: NonNegative

    _ordered = field_validator("high_ms")(above("low_ms"))


class ExponentialLatency(StrictModel):
    dist: Literal["exponential"]
    mean_ms: Positive


class LognormalLatency(StrictModel):
    """Right-skewed latency given the way dashboards show it: median and log-sigma."""

    dist: Literal["lognormal"]
    median_ms: Positive
    sigma: Annotated[float, Field(ge=0.0, le=3.0)]


class EmpiricalLatency(StrictModel):
    """Latency from measured percentiles, linearly interpolated between them.

    Below the lowest listed percentile latency equals that value and above the highest
    it equals the highest: list ``0`` and ``100`` to set the bounds explicitly.
    """

    dist: Literal["empirical"]
    percentiles: dict[Annotated[float, Field(ge=0.0, le=100.0)], NonNegative]

    @field_validator("percentiles")
    @classmethod
    def _monotone(cls, percentiles: dict[float, float]) -> dict[float, float]:
        if len(percentiles) < 2:
            raise ValueError("give at least two percentiles, e.g. {50: 200, 99: 900}")
        values = [percentiles[p] for p in sorted(percentiles)]
        if any(b < a for a, b in pairwise(values)):
            raise ValueError("latency must not decrease as the percentile rises")
        return percentiles


LatencyModel = Annotated[
    FixedLatency | UniformLatency | ExponentialLatency | LognormalLatency | EmpiricalLatency,
    Field(discriminator="dist"),
]
