"""SLO gates of a live run: overrides from the command line, verdicts, breach lines."""

from __future__ import annotations

import pytest

from loadtests.slo import (
    Breach,
    Observed,
    SloError,
    effective_slo,
    evaluate,
    parse_overrides,
)
from scenarios.schema import Slo


def test_overrides_parse_names_and_values() -> None:
    assert parse_overrides(["auth_rate_min=0.9", " p99_ms = 500 "]) == {
        "auth_rate_min": 0.9,
        "p99_ms": 500.0,
    }


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        (
            "auth_rate=0.9",
            "unknown SLO 'auth_rate' (known: p99_ms, auth_rate_min, error_rate_max, "
            "achieved_ratio_min)",
        ),
        ("p99_ms", "expected NAME=VALUE"),
        ("p99_ms=", "expected NAME=VALUE"),
        ("p99_ms=fast", "'fast' is not a number"),
        ("p99_ms=nan", "must be finite"),
    ],
)
def test_bad_overrides_say_what_is_wrong(item: str, fragment: str) -> None:
    with pytest.raises(SloError) as error:
        parse_overrides([item])
    assert fragment in str(error.value)


def test_override_values_are_validated_like_the_scenario_format() -> None:
    with pytest.raises(SloError) as error:
        effective_slo(Slo(), ["auth_rate_min=1.5"])
    assert "auth_rate_min=1.5" in str(error.value)
    assert "less than or equal to 1" in str(error.value)
    with pytest.raises(SloError, match="p99_ms=-3"):
        effective_slo(Slo(), ["p99_ms=-3"])


def test_overrides_replace_the_scenario_gates_and_keep_the_others() -> None:
    base = Slo(p99_ms=800.0, auth_rate_min=0.85)
    slo = effective_slo(base, ["p99_ms=500", "error_rate_max=0.01"])
    assert (slo.p99_ms, slo.auth_rate_min, slo.error_rate_max, slo.achieved_ratio_min) == (
        500.0,
        0.85,
        0.01,
        None,
    )


def test_breach_lines_say_what_and_by_how_much() -> None:
    assert Breach("p99_ms", 812.4, 500.0).line() == "SLO breached: p99_ms 812.4 > 500 (+62.5 %)"
    assert Breach("auth_rate_min", 0.8712, 0.9).line() == (
        "SLO breached: auth_rate_min 0.8712 < 0.9 (-3.2 %)"
    )
    assert Breach("error_rate_max", 0.02, 0.0).line() == (
        "SLO breached: error_rate_max 0.02 > 0 (the limit is 0)"
    )


def test_evaluate_judges_ceilings_and_floors() -> None:
    slo = Slo(p99_ms=500.0, auth_rate_min=0.9, error_rate_max=0.01, achieved_ratio_min=0.95)
    good = evaluate(
        slo, Observed(p99_ms=420.0, auth_rate=0.93, error_rate=0.0, achieved_ratio=0.99)
    )
    assert good.ok and len(good.passed) == 4 and not good.unmeasured
    bad = evaluate(slo, Observed(p99_ms=900.0, auth_rate=0.93, error_rate=0.05, achieved_ratio=0.5))
    assert [b.gate for b in bad.breaches] == ["p99_ms", "error_rate_max", "achieved_ratio_min"]
    assert not bad.ok


def test_limits_are_inclusive() -> None:
    verdict = evaluate(
        Slo(p99_ms=500.0, auth_rate_min=0.9),
        Observed(p99_ms=500.0, auth_rate=0.9, error_rate=None, achieved_ratio=None),
    )
    assert verdict.ok and len(verdict.passed) == 2


def test_a_gate_the_run_could_not_measure_is_reported_not_guessed() -> None:
    verdict = evaluate(
        Slo(achieved_ratio_min=0.9, p99_ms=100.0),
        Observed(p99_ms=float("nan"), auth_rate=None, error_rate=None, achieved_ratio=None),
    )
    assert verdict.ok
    assert [u.split(":")[0] for u in verdict.unmeasured] == ["p99_ms", "achieved_ratio_min"]


def test_no_gates_no_verdicts() -> None:
    verdict = evaluate(Slo(), Observed(1.0, 0.5, 0.5, 0.5))
    assert verdict.ok and verdict.passed == [] and verdict.unmeasured == []
