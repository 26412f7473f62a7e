"""Proof by round trip: calibrating the attempt log of a known scenario gives it back.

The known scenario is the bundled ``acquirer_outage`` made identifiable from an export
(see :data:`IDENTIFIABLE`): its acquirers' decline mixes hold only acquirer-side codes,
and the card's own declines only card-side codes. (As bundled, 05 is both an issuer
and an acquirer decline, and 91/96 are both decline codes and technical errors: no
export can tell those apart, so a calibration folds them, as its report says.)

Its attempt log is written out in every export format; each is calibrated and must
contain the true parameters within the fitted intervals, which are simultaneous 95 %
intervals (Bonferroni over the numbers checked per format), and find the outage's
window to within one bucket. Simulating the fitted scenario must reproduce the true
scenario's auth rate, first-attempt auth rate and acquirer shares within the
simulator's confidence intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from calibration_exports import (
    IDENTIFIABLE,
    log_acquirers,
    mapping_options,
    simulated_attempt_log,
    write_adyen,
    write_hyperswitch,
    write_mapped,
    write_stripe,
)

from calibration.calibrate import Calibration, calibrate
from calibration.importers import load_exports
from mock_acquirers.behaviour import AcquirerBehaviour, latency_quantile
from scenarios.loader import load_scenario
from scenarios.overrides import apply
from scenarios.sampler import Payment
from scenarios.schema import Scenario
from simulator import simulate

pytestmark = pytest.mark.slow

SEED = 11
BUCKET_S = 30.0
MAX_CHECKS = 60
LEVEL = 1.0 - 0.05 / MAX_CHECKS  # simultaneous 95 % over at most MAX_CHECKS numbers
MIN_CELL = 200  # segments with fewer decided attempts are not checked (their grade is not good)


@pytest.fixture(scope="module")
def known() -> Scenario:
    return apply(load_scenario("acquirer_outage"), IDENTIFIABLE, "acquirer_outage (identifiable)")


@pytest.fixture(scope="module")
def attempt_log(known: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The known scenario's attempt log under its priority policy: the simulator's own
    log of one replication."""
    path = tmp_path_factory.mktemp("log") / "attempts.parquet"
    return simulated_attempt_log(known, "priority", SEED, path)


@dataclass
class Export:
    paths: list[Path]
    fmt: str
    carries: set[str]  # "latency", "fees"
    kwargs: dict[str, object]


def exports(log: Path, out: Path) -> dict[str, Export]:
    out.mkdir(parents=True, exist_ok=True)
    acquirers = log_acquirers(log)
    attempts, events = write_hyperswitch(log, out)
    mapping = dict(item.split("=", 1) for item in mapping_options())
    return {
        "routelab": Export([log], "routelab", {"latency", "fees"}, {}),
        "hyperswitch": Export(
            [attempts], "hyperswitch", {"latency"}, {"connector_events": [events]}
        ),
        "stripe": Export(write_stripe(log, out), "stripe", {"fees"}, {"acquirers": acquirers}),
        "adyen": Export(write_adyen(log, out), "adyen", set(), {"acquirers": acquirers}),
        "csv": Export([write_mapped(log, out)], "csv", {"latency", "fees"}, {"mapping": mapping}),
    }


@pytest.fixture(scope="module")
def calibrations(
    attempt_log: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Export, Calibration]]:
    out = tmp_path_factory.mktemp("exports")
    result = {}
    for name, export in exports(attempt_log, out).items():
        attempts, reports = load_exports(
            export.paths, export.fmt, merchant_country="DE", **export.kwargs
        )  # type: ignore[arg-type]
        result[name] = (
            export,
            calibrate(attempts, reports=reports, bucket_s=BUCKET_S, level=LEVEL),
        )
    return result


def cell_payment(network: str, card_type: str, cross_border: bool) -> Payment:
    return Payment(
        1000, "EUR", network, card_type, "US" if cross_border else "DE", "400000", cross_border
    )


def checks(
    known: Scenario, cal: Calibration, export: Export
) -> list[tuple[str, float, float, float]]:
    """(what, truth, low, high) for every number the round trip checks."""
    out: list[tuple[str, float, float, float]] = []
    for fit in cal.acquirers:
        true = known.acquirer(fit.name)
        behaviour = AcquirerBehaviour(true)
        for cell, est in fit.approval.cells.items():
            if est.n >= MIN_CELL:
                truth = behaviour.base_approval(cell_payment(*cell))
                out.append((f"{fit.name} approval {cell}", truth, est.low, est.high))
        for label, est, truth in [
            ("technical error rate", fit.technical_error_rate, true.technical_error_rate),
            ("timeout rate", fit.timeout_rate, true.timeout_rate),
        ]:
            out.append((f"{fit.name} {label}", truth, est.low, est.high))
        if "latency" in export.carries:
            assert fit.latency is not None
            median = float(latency_quantile(true.latency, 0.5))
            out.append(
                (
                    f"{fit.name} latency median",
                    median,
                    fit.latency.median.low,
                    fit.latency.median.high,
                )
            )
        if "fees" in export.carries:
            assert fit.fees_default is not None
            schedules = [("default", fit.fees_default, true.fees.default)] + [
                (n, f, true.fees.for_network(n)) for n, f in fit.fees_by_network.items()
            ]
            for label, fee, truth_fee in schedules:
                out.append(
                    (
                        f"{fit.name} fee pct {label}",
                        truth_fee.pct_bps,
                        fee.pct_bps.low,
                        fee.pct_bps.high,
                    )
                )
                out.append(
                    (
                        f"{fit.name} fee fixed {label}",
                        truth_fee.fixed,
                        fee.fixed.low,
                        fee.fixed.high,
                    )
                )
    issuer = known.traffic.issuer_declines
    for code, est in cal.traffic.issuer_base.items():
        out.append((f"issuer base {code}", issuer.base.get(code, 0.0), est.low, est.high))
    for factor in cal.traffic.issuer_factors:
        truth = next(
            e.factor for e in issuer.effects if getattr(e.when, factor.field) == factor.level
        )
        out.append((f"issuer factor {factor.field}", truth, factor.factor.low, factor.factor.high))
    return out


FORMATS = ["routelab", "hyperswitch", "stripe", "adyen", "csv"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_true_parameters_lie_within_the_fitted_intervals(
    fmt: str, known: Scenario, calibrations: dict[str, tuple[Export, Calibration]]
) -> None:
    export, cal = calibrations[fmt]
    assert [f.name for f in cal.acquirers] == ["acq_a", "acq_b"]  # acq_c never saw an attempt
    found = checks(known, cal, export)
    assert 20 <= len(found) <= MAX_CHECKS
    outside = [
        f"{what}: true {t:.6g} not in [{lo:.6g}, {hi:.6g}]"
        for what, t, lo, hi in found
        if not lo <= t <= hi
    ]
    assert not outside, "\n".join(outside)
    # the true segment effects point the same way in the fit wherever there is data for them
    for fit in cal.acquirers:
        behaviour = AcquirerBehaviour(known.acquirer(fit.name))
        base_truth = behaviour.base_approval(cell_payment(*fit.approval.base_cell))
        for cell, effect in fit.approval.effects.items():
            true_delta = behaviour.base_approval(cell_payment(*cell)) - base_truth
            if abs(true_delta) >= 0.02 and effect.n >= 500:
                assert effect.value * true_delta > 0, (fit.name, cell, effect.value, true_delta)
    factors = {f.field for f in cal.traffic.issuer_factors}
    assert factors == {"card_type", "cross_border"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_outage_window_is_found_within_one_bucket(
    fmt: str, known: Scenario, calibrations: dict[str, tuple[Export, Calibration]]
) -> None:
    _, cal = calibrations[fmt]
    true = known.acquirer("acq_a").incidents[0]
    (incident,) = cal.acquirer("acq_a").incidents
    assert abs(incident.start_s - true.start_s) <= BUCKET_S
    assert abs(incident.end_s - true.end_s) <= BUCKET_S
    assert incident.approval_delta.contains(true.approval_delta)
    assert incident.error_rate.contains(true.error_rate)
    assert cal.acquirer("acq_b").incidents == []


def test_the_fitted_scenario_reproduces_the_run(
    known: Scenario, calibrations: dict[str, tuple[Export, Calibration]]
) -> None:
    _, cal = calibrations["routelab"]
    fitted = cal.scenario.model_copy(update={"warmup_s": known.warmup_s})
    original = simulate(known, "priority", replications=5).summary
    again = simulate(fitted, "observed", replications=5).summary
    for name in ("auth_rate", "first_attempt_auth_rate"):
        lo, hi = getattr(original, f"{name}_ci95")
        flo, fhi = getattr(again, f"{name}_ci95")
        allowance = (hi - lo) / 2 + (fhi - flo) / 2
        assert abs(getattr(again, name) - getattr(original, name)) <= allowance, name
    for acquirer, share in again.acquirer_share.items():
        assert abs(share - original.acquirer_share[acquirer]) <= 0.002, acquirer
