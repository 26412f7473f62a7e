"""The acquirer behaviour model: how an acquirer answers an authorisation attempt.

Pure: time and random draws are passed in. The simulator feeds it batched draws in
virtual time; the mock acquirer HTTP service feeds it its own draws in wall-clock
time. One model, so a simulated and a live run of a scenario can only differ through
real effects (network, CPU, queueing), never through two copies of this logic.

An attempt is resolved from three uniforms:

- ``u_fault``: technical error if below the error rate, a hung request (the answer
  comes only after ``hang_ms``, usually after the router gave up) if below
  error + timeout rate;
- ``u_approve``: approved if below the acquirer-side approval probability for the
  payment's segment, else a decline code drawn from the acquirer's mix (the same
  uniform, rescaled, picks the code);
- ``u_latency``: the latency quantile.

A Mastercard decline carries a Merchant Advice Code in the share the acquirer's
``merchant_advice_codes`` set; the code is picked by ``u_fault`` rescaled within the
region that let the attempt through (it is independent of ``u_approve``), so MACs add no
draw and shift none.

Issuer-intrinsic declines (insufficient funds, stolen card...) are decided by
:class:`IssuerModel` once per payment, so they are the same at every acquirer.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from functools import partial
from typing import NamedTuple, overload

import numpy as np
from scipy.special import ndtr, ndtri

from scenarios.conditions import PaymentAttributes, SegmentKey
from scenarios.fees import attempt_fee
from scenarios.schema import (
    Acquirer,
    EmpiricalLatency,
    ExponentialLatency,
    FixedLatency,
    Incident,
    IssuerDeclines,
    LatencyModel,
    LognormalLatency,
    UniformLatency,
)
from scenarios.taxonomy import APPROVED

_EPS = 1e-12
MASTERCARD = "mastercard"


@overload
def latency_quantile(model: LatencyModel, u: float) -> float: ...
@overload
def latency_quantile(model: LatencyModel, u: np.ndarray) -> np.ndarray: ...
def latency_quantile(model: LatencyModel, u: float | np.ndarray) -> float | np.ndarray:
    """Latency in ms at quantile ``u`` (inverse CDF); works on scalars and arrays."""
    if isinstance(model, FixedLatency):
        return model.ms + 0.0 * np.asarray(u) if isinstance(u, np.ndarray) else model.ms
    if isinstance(model, UniformLatency):
        return model.low_ms + (model.high_ms - model.low_ms) * u
    if isinstance(model, ExponentialLatency):
        out: float | np.ndarray = -model.mean_ms * np.log1p(-np.clip(u, 0.0, 1.0 - _EPS))
        return out
    if isinstance(model, LognormalLatency):
        z = ndtri(np.clip(u, _EPS, 1.0 - _EPS))
        out = model.median_ms * np.exp(model.sigma * z)
        return out
    if isinstance(model, EmpiricalLatency):
        points = sorted(model.percentiles)
        values = [model.percentiles[p] for p in points]
        return np.interp(np.asarray(u) * 100.0, points, values)
    raise TypeError(f"unknown latency model {model!r}")


def latency_cdf(model: LatencyModel, ms: float) -> float:
    """P(latency <= ``ms``): the inverse of :func:`latency_quantile`."""
    if isinstance(model, FixedLatency):
        return 1.0 if model.ms <= ms else 0.0
    if isinstance(model, UniformLatency):
        if model.high_ms <= model.low_ms:
            return 1.0 if model.low_ms <= ms else 0.0
        return min(1.0, max(0.0, (ms - model.low_ms) / (model.high_ms - model.low_ms)))
    if isinstance(model, ExponentialLatency):
        return 1.0 - math.exp(-max(0.0, ms) / model.mean_ms) if model.mean_ms > 0 else 1.0
    if isinstance(model, LognormalLatency):
        if ms <= 0.0:
            return 0.0
        if model.sigma == 0.0:
            return 1.0 if model.median_ms <= ms else 0.0
        return float(ndtr(math.log(ms / model.median_ms) / model.sigma))
    if isinstance(model, EmpiricalLatency):
        points = sorted(model.percentiles)
        values = [model.percentiles[p] for p in points]
        return float(np.interp(ms, values, points)) / 100.0
    raise TypeError(f"unknown latency model {model!r}")


def latency_mean(model: LatencyModel) -> float:
    """Mean latency in ms (exact where closed-form, else numerical)."""
    if isinstance(model, FixedLatency):
        return model.ms
    if isinstance(model, UniformLatency):
        return (model.low_ms + model.high_ms) / 2.0
    if isinstance(model, ExponentialLatency):
        return model.mean_ms
    if isinstance(model, LognormalLatency):
        return model.median_ms * math.exp(model.sigma**2 / 2.0)
    grid = (np.arange(100_000) + 0.5) / 100_000
    return float(np.mean(latency_quantile(model, grid)))


class AttemptOutcome(NamedTuple):
    """What the acquirer does with one attempt.

    ``code`` is the ISO 8583 field-39 answer (``"00"`` approved). ``service_ms`` is how
    long the acquirer takes to answer once it starts working on the attempt (queueing
    for capacity comes on top). ``hung`` marks an answer that comes only after
    ``hang_ms``: the router has usually given up by then, yet the authorisation may
    have gone through: the unknown-outcome case. ``technical`` marks a fault of the
    acquirer's own platform (the code is then its technical error code). ``advice`` is
    the Merchant Advice Code a Mastercard decline carries, "" for none.
    """

    code: str
    service_ms: float
    hung: bool
    technical: bool
    advice: str = ""  # a Mastercard Merchant Advice Code on a decline ("" for none)

    @property
    def approved(self) -> bool:
        return self.code == APPROVED


# tuple.__new__ builds the named tuple in C: this runs for every simulated attempt
_new_outcome = partial(tuple.__new__, AttemptOutcome)


class Conditions(NamedTuple):
    """The acquirer's state for one payment at one instant, incidents included."""

    approval: float
    error_rate: float
    timeout_rate: float
    latency_factor: float


class AcquirerBehaviour:
    """One acquirer's behaviour as the scenario describes it."""

    def __init__(self, acquirer: Acquirer) -> None:
        self.acquirer = acquirer
        self.name = acquirer.name
        conditions = [e.when for e in acquirer.approval.effects]
        self._segment = SegmentKey(conditions)
        self._segment_of = self._segment.key
        self._approval_cache: dict[tuple[object, ...], float] = {}
        codes = list(acquirer.decline_codes)
        weights = np.array([acquirer.decline_codes[c] for c in codes], dtype=float)
        self._decline_codes = codes
        self._decline_cdf = (np.cumsum(weights) / weights.sum()).tolist()
        self._incidents = list(acquirer.incidents)
        self._injected: list[Incident] = []
        # per network: (pct_bps, fixed, per_attempt), read for every attempt
        self._fees: dict[str, tuple[float, float, float]] = {}
        # plain copies of the scenario's numbers: read for every attempt
        self._error_rate = acquirer.technical_error_rate
        self._timeout_rate = acquirer.timeout_rate
        self._hang_ms = acquirer.hang_ms
        self._error_code = acquirer.technical_error_code
        self.median_ms = float(latency_quantile(acquirer.latency, 0.5))
        # voids and status inquiries: the scenario's own models, else the median latency
        self._void_model: LatencyModel = acquirer.void_latency or acquirer.latency
        self._status_model: LatencyModel = acquirer.status_latency or acquirer.latency
        #: fixed void / status latency in ms, or None when it is drawn per request
        self.void_fixed_ms = self._fixed_ms(acquirer.void_latency)
        self.status_fixed_ms = self._fixed_ms(acquirer.status_latency)
        advice = acquirer.merchant_advice_codes
        self._advice_codes = [c for c in advice if advice[c] > 0.0]
        self._advice_cdf = np.cumsum([advice[c] for c in self._advice_codes]).tolist()

    def _fixed_ms(self, model: LatencyModel | None) -> float | None:
        if model is None:
            return self.median_ms
        if isinstance(model, FixedLatency):
            return model.ms
        return None

    def void_ms(self, u: float) -> float:
        """How long the acquirer takes to answer a void, at latency quantile ``u``."""
        fixed = self.void_fixed_ms
        if fixed is not None:
            return fixed
        return float(latency_quantile(self._void_model, u))

    def status_ms(self, u: float) -> float:
        """How long the acquirer takes to answer a status inquiry, at quantile ``u``."""
        fixed = self.status_fixed_ms
        if fixed is not None:
            return fixed
        return float(latency_quantile(self._status_model, u))

    # -- segment-level probabilities -----------------------------------------------------

    def base_approval(self, payment: PaymentAttributes) -> float:
        """Acquirer-side approval probability for the payment's segment, no incidents."""
        if not self._segment.cacheable:
            return self._approval_for(payment)
        key = self._segment_of(payment)
        cached = self._approval_cache.get(key)
        if cached is None:
            cached = self._approval_cache[key] = self._approval_for(payment)
        return cached

    def _approval_for(self, payment: PaymentAttributes) -> float:
        model = self.acquirer.approval
        p = model.base + sum(e.delta for e in model.effects if e.when.matches(payment))
        return min(1.0, max(0.0, p))

    def conditions(self, payment: PaymentAttributes, t: float) -> Conditions:
        """Approval, fault rates and latency factor at scenario time ``t`` (seconds)."""
        acq = self.acquirer
        approval = self.base_approval(payment)
        error_rate, timeout_rate, factor = acq.technical_error_rate, acq.timeout_rate, 1.0
        for incident in self._incidents:
            if incident.start_s <= t < incident.end_s and incident.when.matches(payment):
                w = incident.strength(t)  # 1 unless the incident ramps in or out
                approval += incident.approval_delta * w
                error_rate += incident.error_rate * w
                timeout_rate += incident.timeout_rate * w
                factor *= 1.0 + (incident.latency_factor - 1.0) * w
        return Conditions(
            min(1.0, max(0.0, approval)), min(1.0, error_rate), min(1.0, timeout_rate), factor
        )

    def inject(self, incident: Incident) -> None:
        """Add an incident on top of the scenario's own (the mock's admin API uses this)."""
        self._injected.append(incident)
        self._incidents = [*self.acquirer.incidents, *self._injected]

    def clear_injected(self) -> int:
        """Remove every injected incident; returns how many there were."""
        count = len(self._injected)
        self._injected.clear()
        self._incidents = list(self.acquirer.incidents)
        return count

    def active_incidents(self, t: float) -> list[str]:
        return [i.name for i in self._incidents if i.start_s <= t < i.end_s]

    # -- one attempt --------------------------------------------------------------------

    def attempt(
        self,
        payment: PaymentAttributes,
        t: float,
        issuer_code: str | None,
        u_fault: float,
        u_approve: float,
        base_latency_ms: float,
    ) -> AttemptOutcome:
        """Resolve one attempt at scenario time ``t``.

        ``issuer_code`` is the issuer's own decline for this card (or None), the same
        at every acquirer; ``base_latency_ms`` is ``latency_quantile(model, u_latency)``,
        passed in so the simulator can compute it for a whole batch at once.
        """
        if self._incidents:
            cond = self.conditions(payment, t)
            approval, error_rate, timeout_rate, factor = (
                cond.approval,
                cond.error_rate,
                cond.timeout_rate,
                cond.latency_factor,
            )
        else:
            approval = self.base_approval(payment)
            error_rate, timeout_rate, factor = self._error_rate, self._timeout_rate, 1.0
        service_ms = base_latency_ms * factor
        if u_fault < error_rate:
            return _new_outcome((self._error_code, service_ms, False, True, ""))
        hung = u_fault < error_rate + timeout_rate
        if hung:
            service_ms = self._hang_ms
        if issuer_code is not None:
            code = issuer_code
        elif u_approve < approval:
            return _new_outcome((APPROVED, service_ms, hung, False, ""))
        else:
            # the same uniform, rescaled to [0, 1) within the decline region, picks the code
            v = (u_approve - approval) / (1.0 - approval) if approval < 1.0 else 0.0
            code = self._decline_codes[
                min(bisect_right(self._decline_cdf, v), len(self._decline_codes) - 1)
            ]
        advice = ""
        if self._advice_codes and payment.network == MASTERCARD:
            advice = self._advice(u_fault, error_rate, timeout_rate, hung)
        return _new_outcome((code, service_ms, hung, False, advice))

    def _advice(self, u_fault: float, error_rate: float, timeout_rate: float, hung: bool) -> str:
        """The Merchant Advice Code of a Mastercard decline, from ``u_fault`` rescaled to
        [0, 1) within the region it fell in (hung, or answered in time)."""
        low = error_rate if hung else error_rate + timeout_rate
        high = min(1.0, error_rate + timeout_rate) if hung else 1.0
        w = (u_fault - low) / (high - low) if high > low else 0.0
        i = bisect_right(self._advice_cdf, w)
        return self._advice_codes[i] if i < len(self._advice_codes) else ""

    def fee(self, payment: PaymentAttributes, approved: bool) -> float:
        """Fee in minor units for one attempt: per-attempt part, plus the rest if approved."""
        rates = self._fees.get(payment.network)
        if rates is None:
            fee = self.acquirer.fees.for_network(payment.network)
            rates = self._fees[payment.network] = (fee.pct_bps, fee.fixed, fee.per_attempt)
        pct_bps, fixed, per_attempt = rates
        return attempt_fee(pct_bps, fixed, per_attempt, payment.amount, approved)


class IssuerModel:
    """Issuer-intrinsic declines: decided per card payment, identical at every acquirer."""

    def __init__(self, declines: IssuerDeclines) -> None:
        self._declines = declines
        self._codes = list(declines.base)
        self._segment = SegmentKey([e.when for e in declines.effects])
        self._segment_of = self._segment.key
        self._cache: dict[tuple[object, ...], list[float]] = {}

    def decline_probability(self, payment: PaymentAttributes) -> float:
        cdf = self._cdf(payment)
        return cdf[-1] if cdf else 0.0

    def decline_code(self, payment: PaymentAttributes, u: float) -> str | None:
        """The issuer's own decline code for this payment, or None if it would approve."""
        cdf = self._cdf(payment)
        if not cdf or u >= cdf[-1]:
            return None
        return self._codes[bisect_right(cdf, u)]

    def _cdf(self, payment: PaymentAttributes) -> list[float]:
        if not self._segment.cacheable:
            return self._cdf_for(payment)
        key = self._segment_of(payment)
        cdf = self._cache.get(key)
        if cdf is None:
            cdf = self._cache[key] = self._cdf_for(payment)
        return cdf

    def _cdf_for(self, payment: PaymentAttributes) -> list[float]:
        factor = 1.0
        for effect in self._declines.effects:
            if effect.when.matches(payment):
                factor *= effect.factor
        probs = [self._declines.base[c] * factor for c in self._codes]
        total = sum(probs)
        if total > 1.0:  # a strong factor cannot push declines past certainty
            probs = [p / total for p in probs]
        return np.cumsum(probs).tolist() if probs else []
