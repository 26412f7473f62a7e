"""Putting attempts on the scenario timeline and in payment order.

The scenario's clock starts at the first attempt's time rounded down to a whole
``bucket_s``; attempts of one payment are numbered by time when the export does not
number them. A payment's *issuer-reaching* attempt is its first attempt that was not a
technical error or a timeout: the only one whose answer shows the card's own decline
without bias (a payment cascades after an acquirer-side decline only when the issuer
had not declined it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.attempts import TECHNICAL_I, TIMEOUT_I, Attempts


@dataclass
class Timeline:
    """Attempts sorted by time, with where each payment starts and how far it got."""

    attempts: Attempts
    origin_s: float  # the export's time of scenario time 0
    duration_s: float
    first: np.ndarray  # bool per attempt: the payment's first attempt
    reaching: np.ndarray  # bool per attempt: the payment's issuer-reaching attempt


def build_timeline(attempts: Attempts, bucket_s: float) -> Timeline:
    order = np.lexsort((attempts.attempt, attempts.t_s, attempts.payment.codes))
    by_payment = attempts.take(order)
    codes = by_payment.payment.codes
    starts = np.r_[True, codes[1:] != codes[:-1]]
    group = np.cumsum(starts) - 1
    start_index = np.flatnonzero(starts)
    rank = np.arange(codes.size) - start_index[group] + 1
    numbered = np.where(by_payment.attempt > 0, by_payment.attempt, rank).astype(np.int16)
    by_payment.attempt = numbered
    fault = (by_payment.outcome == TECHNICAL_I) | (by_payment.outcome == TIMEOUT_I)
    # the first non-fault attempt of each payment: cumulative non-faults within the payment
    nonfault = (~fault).astype(np.int64)
    cum = np.cumsum(nonfault)
    before = cum - nonfault
    reaching = (~fault) & (before - (cum - nonfault)[start_index][group] == 0)
    first = rank == 1
    origin = float(np.floor(by_payment.t_s.min() / bucket_s) * bucket_s)
    by_payment.t_s = by_payment.t_s - origin
    span = float(by_payment.t_s.max())
    duration = max(bucket_s, float(np.ceil((span + 1e-9) / bucket_s) * bucket_s))
    time_order = np.argsort(by_payment.t_s, kind="stable")
    return Timeline(
        attempts=by_payment.take(time_order),
        origin_s=origin,
        duration_s=duration,
        first=first[time_order],
        reaching=reaching[time_order],
    )
