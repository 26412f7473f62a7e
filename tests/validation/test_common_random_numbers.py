"""Common random numbers: two policies run with one seed are a paired comparison.

The same seed gives every policy the same payments, the same issuer answers and the
same acquirer answers per payment, so the noise shared by both runs cancels in their
difference. The variance of per-replication differences must therefore be far
smaller with a shared seed than with independent seeds.

The comparison is a volume split of 70/30 against 60/40 between two acquirers. Under
common random numbers the two runs differ only on the payments whose routing draw
falls in [0.6, 0.7): per payment the paired difference has variance ≈ 0.1·0.95·0.2 ≈
0.019, against ≈ 2·0.85·0.15 ≈ 0.26 for independent runs, a ratio near 0.07.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import f as f_distribution
from validation_scenarios import SEED, SINGLE_SEGMENT_MIX, STRICT_LEVEL, no_timeout_retry

from results.contract import RunSummary
from results.stats import paired_difference, t_interval
from scenarios.loader import validate_scenario
from scenarios.schema import Scenario
from simulator import simulate

REPLICATIONS = 30
P_A, P_B, ISSUER_DECLINE = 0.92, 0.86, 0.05
# The brief's margin: with a true ratio near 0.07 and 29/29 degrees of freedom, the
# chance that the sample ratio exceeds 0.5 is below 1e-6.
MAX_VARIANCE_RATIO = 0.5


def _split(name: str, weight_a: float) -> dict[str, Any]:
    return {
        "name": name,
        "default": ["acq_a", "acq_b"],
        "retry": no_timeout_retry(1),
        "strategy": {"type": "weighted", "weights": {"acq_a": weight_a, "acq_b": 100 - weight_a}},
    }


def _scenario() -> Scenario:
    return validate_scenario(
        {
            "name": "crn",
            "merchant": {"country": "DE"},
            "acquirers": [
                {
                    "name": "acq_a",
                    "latency": {"dist": "lognormal", "median_ms": 250, "sigma": 0.4},
                    "approval": {"base": P_A},
                },
                {
                    "name": "acq_b",
                    "latency": {"dist": "lognormal", "median_ms": 180, "sigma": 0.3},
                    "approval": {"base": P_B},
                },
            ],
            "traffic": {
                "duration_s": 15.0,
                "arrival": {"profile": "constant", "rate_per_s": 100.0},
                "mix": SINGLE_SEGMENT_MIX,
                "issuer_declines": {"base": {"51": ISSUER_DECLINE}},
            },
            "policies": [_split("split-70-30", 70), _split("split-60-40", 60)],
        },
        "<crn>",
    )


def _auth_rates(summary: RunSummary) -> np.ndarray:
    return np.array([r.auth_rate for r in summary.per_replication])


@pytest.fixture(scope="module")
def runs() -> dict[str, RunSummary]:
    scenario = _scenario()
    return {
        "control": simulate(
            scenario, "split-70-30", seed=SEED + 400, replications=REPLICATIONS
        ).summary,
        "paired": simulate(
            scenario, "split-60-40", seed=SEED + 400, replications=REPLICATIONS
        ).summary,
        "independent": simulate(
            scenario, "split-60-40", seed=SEED + 401, replications=REPLICATIONS
        ).summary,
    }


def test_shared_seed_gives_both_policies_the_same_payments(runs: dict[str, RunSummary]) -> None:
    control, paired, independent = runs["control"], runs["paired"], runs["independent"]
    assert [r.payments for r in control.per_replication] == [
        r.payments for r in paired.per_replication
    ]
    assert [r.payments for r in control.per_replication] != [
        r.payments for r in independent.per_replication
    ]


def test_common_random_numbers_shrink_the_variance_of_a_policy_difference(
    runs: dict[str, RunSummary],
) -> None:
    control = _auth_rates(runs["control"])
    paired_diff = _auth_rates(runs["paired"]) - control
    independent_diff = _auth_rates(runs["independent"]) - control
    ratio = float(paired_diff.var(ddof=1) / independent_diff.var(ddof=1))
    assert ratio < MAX_VARIANCE_RATIO, f"paired/independent variance ratio {ratio:.3f}"
    # and the reduction is significant on its own terms (one-sided F test)
    dof = REPLICATIONS - 1
    assert f_distribution.cdf(ratio, dof, dof) < 1 - STRICT_LEVEL


def test_paired_difference_finds_the_analytical_effect(runs: dict[str, RunSummary]) -> None:
    # 10 % of payments move from acq_a to acq_b: the auth rate drops by
    # 0.1 · (1 − d) · (p_A − p_B) = 0.57 pp.
    expected = -0.1 * (1 - ISSUER_DECLINE) * (P_A - P_B)
    paired = paired_difference(
        list(_auth_rates(runs["paired"])), list(_auth_rates(runs["control"]))
    )
    assert paired.excludes_zero, f"a shared seed should resolve a 0.57 pp effect: {paired}"
    diff = _auth_rates(runs["paired"]) - _auth_rates(runs["control"])
    strict = t_interval(diff, STRICT_LEVEL)
    assert strict.contains(expected), f"paired difference {strict} vs analytical {expected:.5f}"
