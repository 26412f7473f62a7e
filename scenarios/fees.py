"""The acquirer fee formula, once: every fee routelab reports comes from here.

Kept free of pydantic so the simulator's per-attempt path can call it compiled (see
setup.py); ``scenarios.schema.Fee.charge`` and the acquirer behaviour model both use it.
"""

from __future__ import annotations


def attempt_fee(
    pct_bps: float, fixed: float, per_attempt: float, amount: int, approved: bool
) -> float:
    """Fee in minor units for one attempt on ``amount`` (minor units).

    ``per_attempt`` for every authorisation attempt whatever its outcome, plus
    ``pct_bps`` of the amount and ``fixed`` when the attempt is approved.
    """
    if approved:
        return per_attempt + pct_bps * amount / 10_000.0 + fixed
    return per_attempt
