"""The fitted scenario as scenario-format data and as commented YAML.

The data is validated by the one loader (``scenarios.loader.validate_scenario``) before
anything is written, so a calibrated scenario always loads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import yaml

from calibration.acquirer_fit import AcquirerFit
from calibration.approval import MIN_DELTA, cell_condition
from calibration.distributions import monotone_percentiles
from calibration.fees import FeeFit
from calibration.traffic_fit import TrafficFit

DEFAULT_TIMEOUT_MS = 4000.0


def _weights(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {
        k: max(round(v / total, 5), 1e-5) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
    }


def _latency(fit: AcquirerFit) -> dict[str, Any]:
    lat = fit.latency
    if lat is None:
        return {"dist": "fixed", "ms": 250.0}
    if lat.good:
        return {
            "dist": "lognormal",
            "median_ms": round(lat.median.value, 2),
            "sigma": round(min(lat.sigma, 3.0), 4),
        }
    return {"dist": "empirical", "percentiles": monotone_percentiles(lat.percentiles, 2)}


def _fee(fee: FeeFit) -> dict[str, float]:
    return {
        "pct_bps": round(max(fee.pct_bps.value, 0.0), 3),
        "fixed": round(max(fee.fixed.value, 0.0), 3),
        "per_attempt": round(fee.per_attempt, 3),
    }


def acquirer_data(fit: AcquirerFit) -> dict[str, Any]:
    approval = fit.approval
    cells = list(approval.cells)
    fields = tuple(len({cell[i] for cell in cells}) > 1 for i in range(3))
    effects = [
        {
            "when": cell_condition(cell, (fields[0], fields[1], fields[2])),
            "delta": round(est.value, 5),
        }
        for cell, est in approval.effects.items()
        if abs(est.value) >= MIN_DELTA
    ]
    data: dict[str, Any] = {
        "name": fit.name,
        "latency": _latency(fit),
        "technical_error_rate": round(fit.technical_error_rate.value, 6),
        "timeout_rate": round(fit.timeout_rate.value, 6),
        "approval": {"base": round(min(max(approval.base.value, 0.0), 1.0), 5), "effects": effects},
        "decline_codes": _weights(fit.decline_codes) if fit.decline_codes else {"05": 1.0},
        "technical_error_code": fit.technical_error_code,
    }
    if fit.fees_default is not None:
        data["fees"] = {
            "default": _fee(fit.fees_default),
            "by_network": {n: _fee(f) for n, f in fit.fees_by_network.items()},
        }
    if fit.incidents:
        data["incidents"] = [
            {
                "name": f"{fit.name}_incident_{k + 1}",
                "start_s": round(inc.start_s, 3),
                "end_s": round(inc.end_s, 3),
                "approval_delta": round(min(max(inc.approval_delta.value, -1.0), 1.0), 5),
                "error_rate": round(min(max(inc.error_rate.value, 0.0), 1.0), 6),
                "timeout_rate": round(min(max(inc.timeout_rate.value, 0.0), 1.0), 6),
                "latency_factor": round(inc.latency_factor, 4),
            }
            for k, inc in enumerate(fit.incidents)
        ]
    return data


def amount_data(traffic: TrafficFit) -> dict[str, Any]:
    fit = traffic.amount
    if fit is None:
        return {"dist": "fixed", "value": 1000}
    if fit.good:
        ceiling = max(int(traffic.amounts.max()), 1)
        return {
            "dist": "lognormal",
            "median": round(fit.median.value, 2),
            "sigma": round(min(fit.sigma, 4.0), 4),
            "max": max(ceiling, 10_000_000),
        }
    points = monotone_percentiles(fit.percentiles, 0)
    return {"dist": "empirical", "percentiles": {p: max(1.0, v) for p, v in points.items()}}


def traffic_data(traffic: TrafficFit, duration_s: float) -> dict[str, Any]:
    issuer: dict[str, Any] = {
        "base": {code: round(e.value, 6) for code, e in traffic.issuer_base.items()}
    }
    issuer["effects"] = [
        {"when": {f.field: f.level}, "factor": round(min(f.factor.value, 20.0), 4)}
        for f in traffic.issuer_factors
    ]
    steps = [
        {"start_s": round(s.start_s, 3), "rate_per_s": round(s.rate.value, 5)}
        for s in traffic.steps
    ]
    if max(s["rate_per_s"] for s in steps) <= 0:
        steps[0]["rate_per_s"] = 1e-5
    return {
        "duration_s": duration_s,
        "arrival": {"profile": "piecewise", "steps": steps},
        "mix": {
            "networks": _weights(traffic.networks),
            "card_types": _weights(traffic.card_types),
            "issuer_countries": _weights(traffic.issuer_countries),
            "currencies": _weights(traffic.currencies),
            "amount": amount_data(traffic),
        },
        "issuer_declines": issuer,
    }


def plain(value: Any) -> Any:
    """``value`` with numpy scalars turned into Python numbers (for YAML and pydantic)."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def to_yaml(data: dict[str, Any], header: list[str], policy_comment: list[str]) -> str:
    body = yaml.safe_dump(
        data, sort_keys=False, default_flow_style=None, width=100, allow_unicode=True
    )
    comment = "".join(f"# {line}\n" for line in policy_comment)
    body = body.replace("\npolicies:\n", f"\n{comment}policies:\n", 1)
    return "".join(f"# {line}\n" for line in header) + body
