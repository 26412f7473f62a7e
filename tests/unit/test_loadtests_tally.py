"""Live statistics: what the generator sends, how answers are counted and merged across
workers, and how the merged counts become the shared result contract."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import msgpack  # type: ignore[import-untyped]  # no stubs; Locust sends reports with it
import numpy as np
import orjson
import pytest

from loadtests.live_summary import (
    build_summary,
    ledger_reversed_approvals,
    live_identity,
    rate_figures,
    timeseries,
)
from loadtests.live_tally import LiveTally, fee_schedule
from loadtests.options import HarnessOptions, OptionError
from loadtests.payer import (
    AnswerError,
    Attempt,
    PaymentAnswer,
    failure_kind,
    parse_answer,
)
from loadtests.plan import RunPlan
from results.contract import RunSummary, read_summary, read_timeseries, write_run
from results.identity import RunIdentity, policy_hash, scenario_hash
from results.pairing import experiment_differences
from results.tally import Tally
from router.payment_request import parse_payment
from scenarios.loader import load_scenario
from scenarios.sampler import Payment
from scenarios.schema import Scenario
from scenarios.taxonomy import classify
from scenarios.transform import compress_timeline, scenario_yaml
from simulator import simulate

CARD = Payment(
    amount=10_000,
    currency="EUR",
    network="visa",
    card_type="debit",
    issuer_country="DE",
    bin="424242",
    cross_border=False,
)
APPROVED_A = PaymentAnswer("approved", "00", None, (Attempt("acq_a", "approved", None),))
CASCADED = PaymentAnswer(
    "approved",
    "00",
    None,
    (Attempt("acq_a", "soft_decline", None), Attempt("acq_b", "approved", None)),
)
DECLINED = PaymentAnswer(
    "declined", "51", "soft_decline", (Attempt("acq_b", "soft_decline", None),)
)
TIMED_OUT = PaymentAnswer("failed", "68", "timeout", (Attempt("acq_c", "timeout", "voided"),))


def plan_for(baseline: Scenario, **options: object) -> RunPlan:
    return RunPlan.build(baseline, HarnessOptions(**options))  # type: ignore[arg-type]


# -- what is sent and how answers are read -------------------------------------------------


def test_requests_pass_the_routers_own_validation(baseline: Scenario) -> None:
    plan = plan_for(baseline, duration_s=10.0)
    cards = plan.payments("lt12345678", 1, 0)
    keys = set()
    for _ in range(300):
        payment, key, body = cards.next()
        request = parse_payment(body)  # the router's parser: raises on anything it refuses
        assert request.amount == payment.amount and request.card.bin == payment.bin
        assert request.merchant_reference == key and key.startswith("lt12345678-1-0-")
        keys.add(key)
    assert len(keys) == 300
    # the same stream draws the same payments; another user's stream draws others
    a, b = plan.payments("x", 0, 0), plan.payments("x", 0, 0)
    first = [a.next() for _ in range(20)]
    assert first == [b.next() for _ in range(20)]
    other = plan.payments("x", 0, 1)
    assert [other.next()[0] for _ in range(20)] != [p for p, _, _ in first]


def test_answers_are_parsed_and_malformed_ones_refused() -> None:
    body = orjson.dumps(
        {
            "payment_id": "pay_1",
            "status": "declined",
            "code": "05",
            "decline_class": "soft_decline",
            "attempts": [
                {
                    "acquirer": "acq_a",
                    "class": "technical_error",
                    "code": "96",
                    "key": "k-1",
                    "void": "nothing_approved",
                },
                {"acquirer": "acq_b", "class": "soft_decline", "code": "05", "key": "k-2"},
            ],
        }
    )
    answer = parse_answer(body)
    assert answer.status == "declined" and not answer.approved
    assert [a.acquirer for a in answer.attempts] == ["acq_a", "acq_b"]
    assert answer.attempts[0].void == "nothing_approved"
    for bad in (
        b"",
        b"[]",
        b'{"status": "approved"}',
        b'{"status": "maybe", "code": "00", "attempts": []}',
        b'{"status": "approved", "code": "00", "attempts": []}',
    ):
        with pytest.raises(AnswerError):
            parse_answer(bad)


def test_http_failures_are_classified() -> None:
    assert failure_kind(503, None) == "http_5xx"
    assert failure_kind(422, None) == "http_4xx"
    assert failure_kind(0, TimeoutError("timed out")) == "timeout"
    assert failure_kind(0, ConnectionRefusedError(111, "refused")) == "connection_error"


def test_web_ui_strings_are_coerced_and_bad_options_refused() -> None:
    parsed = SimpleNamespace(
        routelab_scenario="baseline",
        routelab_duration_s="30",
        routelab_rate_scale="2.5",
        routelab_truncate="true",
        routelab_seed="",
        routelab_slo="p99_ms=500, auth_rate_min=0.9",
        routelab_max_in_flight="50",
    )
    options = HarnessOptions.from_namespace(parsed)
    assert (
        options.duration_s,
        options.rate_scale,
        options.truncate,
        options.seed,
        options.max_in_flight,
    ) == (30.0, 2.5, True, None, 50)
    assert options.slo == ("p99_ms=500", "auth_rate_min=0.9")
    with pytest.raises(OptionError, match="--rate-scale must be positive"):
        HarnessOptions(rate_scale=0.0)
    with pytest.raises(OptionError, match="not a number"):
        HarnessOptions.from_namespace(SimpleNamespace(routelab_duration_s="soon"))


def test_locust_args_name_every_option_set() -> None:
    options = HarnessOptions(
        scenario="s.yaml",
        duration_s=12.0,
        truncate=True,
        seed=3,
        slo=("p99_ms=5",),
        run_id="ltabc",
        results_path="/r.json",
    )
    args = options.locust_args()
    pairs = dict(pairwise(args))  # flag -> the word after it
    assert pairs["--scenario"] == "s.yaml" and pairs["--duration"] == "12.0"
    assert pairs["--seed"] == "3" and pairs["--slo"] == "p99_ms=5"
    assert pairs["--run-id"] == "ltabc" and pairs["--results-file"] == "/r.json"
    assert "--truncate" in args and "--warmup" not in args


# -- counting and merging -----------------------------------------------------------------


def record(tally: LiveTally, t: float, answer: PaymentAnswer, latency_ms: float = 100.0) -> None:
    tally.scheduled(t)
    tally.sent(t, t + 0.001, 1.0, late=False)
    tally.answered(t, CARD, answer, latency_ms, latency_ms - 1.0)


def by_name(tally: Tally, counts: list[int]) -> dict[str, int]:
    return {name: n for name, n in zip(tally.acquirers, counts, strict=True) if n}


def test_answers_are_counted_like_the_simulator_counts_payments(baseline: Scenario) -> None:
    live = LiveTally(warmup_s=1.0, bucket_s=1.0, fee_of=fee_schedule(baseline))
    record(live, 0.5, DECLINED)  # warm-up: only the generator counts it
    for t, answer in ((1.5, APPROVED_A), (1.6, CASCADED), (2.5, DECLINED), (2.6, TIMED_OUT)):
        record(live, t, answer)
    live.scheduled(2.7)
    live.dropped(2.7)
    live.scheduled(2.8)
    live.sent(2.8, 2.81, 2.0, late=False)
    live.http_error(2.8, "http_5xx")
    live.sent(0.9, 0.95, 50.0, late=True)  # late in the warm-up: the generator's health only
    live.sent(2.9, 2.96, 60.0, late=True)
    c = live.counts
    assert (c["late_all"], c["late"], live.maxima["max_lateness_ms"]) == (2, 1, 60.0)
    assert (
        c["scheduled_all"],
        c["answered_all"],
        c["errors_all"],
        c["dropped_all"],
        c["sent_all"],
    ) == (7, 5, 1, 1, 8)
    tally = live.tally  # every payment figure is the shared tally's
    assert (c["payments"], c["approved"]) == (tally.payments, tally.approved) == (4, 2)
    assert (
        tally.first_attempt_approved,
        tally.recovered,
        tally.cascaded,
        tally.attempts,
        tally.timeouts,
        tally.settled,
        tally.unsettled,
        tally.reversed_approvals,  # not in an answer: from the acquirers' ledgers
    ) == (1, 1, 1, 5, 1, 1, 0, 0)
    assert by_name(tally, tally.first_attempts) == {"acq_a": 2, "acq_b": 1, "acq_c": 1}
    assert by_name(tally, tally.approvals_by_acquirer) == {"acq_a": 1, "acq_b": 1}
    assert tally.declines_by_code == {"51": 1, "68": 1}
    assert tally.declines_by_class == {"soft_decline": 1, "timeout": 1}
    assert live.http_errors == {"http_5xx": 1}
    fee = baseline.acquirer("acq_a").fees.for_network("visa")
    fee_b = baseline.acquirer("acq_b").fees.for_network("visa")
    fee_c = baseline.acquirer("acq_c").fees.for_network("visa")
    expected_cost = (
        fee.charge(CARD.amount, True)
        + fee.charge(CARD.amount, False)
        + fee_b.charge(CARD.amount, True)
        + fee_b.charge(CARD.amount, False)
        + fee_c.charge(CARD.amount, False)
    )
    assert tally.cost == pytest.approx(expected_cost)
    assert fee.charge(10_000, True) == pytest.approx(110 * 10_000 / 10_000 + 10)
    assert live.histogram("latency").total == 4 and live.histogram("lateness").total == 8


def test_the_live_tally_counts_what_the_simulators_calls_count(baseline: Scenario) -> None:
    """A scripted answer of each kind, fed to the live tally and, as the simulator would
    count the same payments, straight into a results tally: the same counts."""
    fee_of = fee_schedule(baseline)
    script = [
        (1.2, APPROVED_A, 120.0),
        (1.4, CASCADED, 340.0),
        (2.1, DECLINED, 90.0),
        # hung at acq_c, voided, then approved at acq_a
        (
            2.2,
            PaymentAnswer(
                "approved",
                "00",
                None,
                (Attempt("acq_c", "timeout", "voided"), Attempt("acq_a", "approved", None)),
            ),
            2_400.0,
        ),
        # hung, shown to hold no approval, declined elsewhere
        (
            3.3,
            PaymentAnswer(
                "declined",
                "05",
                "soft_decline",
                (
                    Attempt("acq_a", "timeout", "nothing_approved"),
                    Attempt("acq_b", "soft_decline", None),
                ),
            ),
            2_100.0,
        ),
        # hung on the last attempt: still unknown when the router answered
        (
            3.4,
            PaymentAnswer("failed", "68", "timeout", (Attempt("acq_b", "timeout", "unconfirmed"),)),
            1_000.0,
        ),
        # a broken answer settled only after the payment ended, and no attempt at all
        (
            3.5,
            PaymentAnswer(
                "failed",
                "96",
                "technical_error",
                (Attempt("acq_b", "technical_error", "late_voided"),),
            ),
            80.0,
        ),
        (3.6, PaymentAnswer("failed", "68", None, ()), 10_000.0),
    ]
    live = LiveTally(warmup_s=1.0, bucket_s=1.0, fee_of=fee_of)
    for t, answer, latency in script:
        live.answered(t, CARD, answer, latency, latency)
    names = baseline.acquirer_names
    sim = Tally(names, 5.0, 1.0)

    def attempt(acquirer: str, t: float, approved: bool) -> None:
        fee = baseline.acquirer(acquirer).fees.for_network(CARD.network)
        sim.attempt(names.index(acquirer), t, approved, fee.charge(CARD.amount, approved))

    def payment(t: float, first: str | None, n: int, code: str, latency: float) -> None:
        info = classify(code)
        approved = code == "00"
        first_index = names.index(first) if first else -1
        sim.payment(t, first_index, n, approved, code, info.outcome, latency, CARD.amount)

    attempt("acq_a", 1.2, True)
    payment(1.2, "acq_a", 1, "00", 120.0)
    attempt("acq_a", 1.4, False)
    attempt("acq_b", 1.4, True)
    payment(1.4, "acq_a", 2, "00", 340.0)
    attempt("acq_b", 2.1, False)
    payment(2.1, "acq_b", 1, "51", 90.0)
    attempt("acq_c", 2.2, False)
    sim.timeouts += 1
    sim.settled += 1
    attempt("acq_a", 2.2, True)
    payment(2.2, "acq_c", 2, "00", 2_400.0)
    attempt("acq_a", 3.3, False)
    sim.timeouts += 1
    sim.settled += 1
    attempt("acq_b", 3.3, False)
    payment(3.3, "acq_a", 2, "05", 2_100.0)
    attempt("acq_b", 3.4, False)
    sim.timeouts += 1
    sim.unsettled += 1
    payment(3.4, "acq_b", 1, "68", 1_000.0)
    attempt("acq_b", 3.5, False)
    sim.unsettled += 1
    payment(3.5, "acq_b", 1, "96", 80.0)
    payment(3.6, None, 0, "68", 10_000.0)
    got, expected = live.tally.report(), sim.report()
    assert got.pop("cost") == pytest.approx(expected.pop("cost"))
    for shape in ("n_buckets", "open_ended", "series_payments", "series_approved"):
        got.pop(shape), expected.pop(shape)  # the live tally grows its buckets as time goes
    assert got.pop("series_latency_sum_ms")[:4] == expected.pop("series_latency_sum_ms")[:4]
    got_series, expected_series = got.pop("series_attempts"), expected.pop("series_attempts")
    assert {a: s[:4] for a, s in got_series.items()} == {
        a: s[:4] for a, s in expected_series.items()
    }
    got.pop("n_fine"), expected.pop("n_fine")  # the share series grow too
    assert got.pop("fine_approved")[:4] == expected.pop("fine_approved")[:4]
    got_fine, expected_fine = got.pop("fine_first"), expected.pop("fine_first")
    assert {a: s[:4] for a, s in got_fine.items()} == {a: s[:4] for a, s in expected_fine.items()}
    assert got == expected
    assert (sim.timeouts, sim.settled, sim.unsettled) == (3, 2, 2)


def test_worker_reports_merge_into_what_one_process_would_have_counted() -> None:
    rng = np.random.default_rng(3)
    answers = [APPROVED_A, CASCADED, DECLINED, TIMED_OUT]
    events = [
        (float(t), answers[int(a)], float(lat))
        for t, a, lat in zip(
            np.sort(rng.uniform(0.0, 20.0, 400)),
            rng.integers(0, 4, 400),
            rng.lognormal(5.0, 0.5, 400),
            strict=True,
        )
    ]
    whole = LiveTally(warmup_s=2.0, bucket_s=0.5)
    workers = [LiveTally(warmup_s=2.0, bucket_s=0.5) for _ in range(3)]
    master = LiveTally(warmup_s=2.0, bucket_s=0.5)
    for i, (t, answer, latency) in enumerate(events):
        record(whole, t, answer, latency)
        record(workers[i % 3], t, answer, latency)
        if i % 50 == 49:  # a report every so often, as Locust asks for them
            for worker in workers:
                # through msgpack, as Locust's worker -> master messages travel
                report = msgpack.loads(msgpack.dumps(worker.drain()), strict_map_key=False)
                master.merge(report)
    for worker in workers:
        master.merge(orjson.loads(orjson.dumps(worker.drain())))
        assert worker.counts["payments"] == 0 and worker.tally.payments == 0  # drained
    merged, expected = master.report(), orjson.loads(orjson.dumps(whole.report()))
    merged_tally, expected_tally = merged.pop("tally"), expected.pop("tally")
    # latency sums are floats added in another order: equal up to rounding
    assert merged_tally.pop("series_latency_sum_ms") == pytest.approx(
        expected_tally.pop("series_latency_sum_ms")
    )
    # acquirers are numbered in the order each tally first saw them: compare by name
    assert set(merged_tally.pop("acquirers")) == set(expected_tally.pop("acquirers"))
    assert merged_tally == expected_tally
    assert merged == expected
    assert master.histogram("latency").percentiles() == whole.histogram("latency").percentiles()
    assert master.counts["payments"] == whole.tally.payments > 300


# -- the result contract -----------------------------------------------------------------


def test_the_summary_follows_the_shared_contract(baseline: Scenario, tmp_path: Path) -> None:
    plan = plan_for(baseline, duration_s=10.0, warmup_s=1.0)
    tally = LiveTally(plan.warmup_s, plan.bucket_s, fee_schedule(baseline))
    for i in range(90):
        record(tally, 1.0 + i * 0.1, [APPROVED_A, CASCADED, DECLINED][i % 3], 200.0 + i)
    summary = build_summary(
        tally,
        plan,
        policy="priority",
        wall_seconds=14.2,
        reconciliation={"matched": 60, "missing": 0, "duplicated": 0},
    )
    assert summary.engine == "live" and summary.replications == 1
    assert summary.ci_method == "wilson"
    assert summary.payments == 90 and summary.approved == 60
    assert summary.auth_rate == pytest.approx(60 / 90, abs=1e-6)
    lo, hi = summary.auth_rate_ci95
    assert lo is not None and hi is not None and lo < 60 / 90 < hi
    assert summary.acquirer_share == {
        "acq_a": pytest.approx(2 / 3, abs=1e-6),
        "acq_b": pytest.approx(1 / 3, abs=1e-6),
        "acq_c": 0.0,
    }
    assert summary.per_replication[0].acquirer_share == {
        name: pytest.approx(share, abs=1e-6) for name, share in summary.acquirer_share.items()
    }
    assert summary.acquirer_auth_rate["acq_c"] is None or math.isnan(
        summary.acquirer_auth_rate["acq_c"]
    )
    assert summary.offered_rate == pytest.approx(90 / 9.0)
    assert summary.achieved_rate == pytest.approx(90 / 9.0)
    assert summary.http_error_rate == 0.0
    assert summary.latency_ms.p50 is not None and 200 < summary.latency_ms.p50 < 300
    assert summary.reconciliation == {"matched": 60, "missing": 0, "duplicated": 0}
    # the run's identity: the whole 1800 s timeline played 180 times faster, at scale 1
    assert summary.identity == RunIdentity(
        scenario_hash=scenario_hash(baseline),
        policy="priority",
        policy_hash=policy_hash(baseline.policy("priority")),
        seed=baseline.seed,
        replications=1,
        engine="live",
        timeline_s=1800.0,
        time_scale=180.0,
        rate_scale=1.0,
    )
    # no ledgers read: the reversed approvals are not known, and the summary says so
    assert summary.timeouts == {
        "timeouts": 0,
        "settled": 0,
        "unsettled": 0,
        "reversed_approvals": None,
    }
    assert summary.reversed_approvals_source is None
    run = tmp_path / "run"
    write_run(run, summary, timeseries(tally, plan), tally.histogram("latency"))
    back = read_summary(run)
    assert isinstance(back, RunSummary) and back.payments == 90
    assert back.identity == summary.identity
    assert back.acquirer_auth_rate["acq_c"] is None  # NaN is written as null
    rows = read_timeseries(run)
    assert list(rows[0])[:5] == [
        "t_start_s",
        "payments",
        "approved",
        "auth_rate",
        "mean_latency_ms",
    ]
    assert list(rows[0])[-4:] == ["t_wall_s", "scheduled", "http_errors", "dropped"]
    assert len(rows) == round(plan.duration_s / plan.bucket_s) == 30
    assert sum(r["payments"] for r in rows) == sum(r["scheduled"] for r in rows) == 90
    assert math.isnan(rows[0]["auth_rate"])  # the warm-up bucket holds no payment
    # t_start_s is on the scenario's timeline: 1800 s compressed into 10 s
    assert rows[1]["t_start_s"] == pytest.approx(plan.bucket_s * 180.0, abs=1e-3)
    assert rows[1]["t_wall_s"] == pytest.approx(plan.bucket_s, abs=1e-3)


def test_reversed_approvals_come_from_the_acquirers_ledgers(baseline: Scenario) -> None:
    plan = plan_for(baseline, duration_s=10.0, warmup_s=1.0)
    entry = {"status": "reversed", "reference": "ltab-0-0-1", "scenario_time_s": 200.0}
    ledger = [
        entry,
        {**entry, "reference": "ltab-0-1-7", "scenario_time_s": 181.0},
        {**entry, "scenario_time_s": 179.0},  # in the warm-up (1 s of wall time, x180)
        {**entry, "status": "approved"},  # an approval that stands
        {**entry, "reference": "ltzz-0-0-1"},  # another run's
    ]
    assert ledger_reversed_approvals(ledger, "ltab", 180.0) == 2
    assert ledger_reversed_approvals(ledger, "ltab", -math.inf) == 3
    tally = LiveTally(plan.warmup_s, plan.bucket_s)
    record(tally, 2.0, TIMED_OUT)
    summary = build_summary(
        tally,
        plan,
        policy="priority",
        wall_seconds=1.0,
        reconciliation=None,
        reversed_approvals=2,
    )
    assert summary.timeouts == {
        "timeouts": 1,
        "settled": 1,
        "unsettled": 0,
        "reversed_approvals": 2,
    }
    assert summary.reversed_approvals_source == "acquirer ledgers"
    assert tally.tally.reversed_approvals == 0  # the figure is the summary's, not the answers'


def test_a_generator_that_falls_behind_shows_as_a_lower_achieved_rate(baseline: Scenario) -> None:
    plan = plan_for(baseline, duration_s=10.0, warmup_s=0.0)
    tally = LiveTally(plan.warmup_s, plan.bucket_s)
    for i in range(100):
        t = i * 0.1
        tally.scheduled(t)
        tally.sent(t, t * 1.25, t * 250.0, late=t > 0.04)  # ends 2.5 s behind
        tally.answered(t, CARD, APPROVED_A, 100.0, 100.0)
    figures = rate_figures(tally, plan)
    assert figures.offered_rate == pytest.approx(10.0)
    assert figures.window_s == pytest.approx(12.375)
    assert figures.achieved_ratio == pytest.approx(10.0 / 12.375)


def test_plans_refuse_a_warmup_that_leaves_nothing(baseline: Scenario) -> None:
    with pytest.raises(OptionError, match="pass --warmup"):
        plan_for(baseline, duration_s=30.0, truncate=True)  # 60 s warm-up, real time
    plan = plan_for(baseline, duration_s=30.0, truncate=True, warmup_s=5.0)
    assert plan.warmup_s == 5.0 and plan.timeline.compression == 1.0
    compressed = plan_for(baseline, duration_s=30.0)
    assert compressed.warmup_s == pytest.approx(1.0)  # 60 s of 1800 s, into 30 s
    assert compressed.request_timeout_s == pytest.approx(15.0)  # 10 s budget + 5 s


def test_a_live_run_of_a_short_scenario_file_is_the_simulations_experiment(
    tmp_path: Path,
) -> None:
    """What the demo does: compress the scenario into a file of its own, load-test that
    file in real time, simulate the same short scenario: one experiment."""
    short = compress_timeline(load_scenario("acquirer_outage"), 45.0)
    path = tmp_path / f"{short.name}.yaml"
    path.write_text(scenario_yaml(short), encoding="utf-8")
    plan = RunPlan.build(load_scenario(path), HarnessOptions(scenario=str(path)))
    live = live_identity(plan, "sr_window")
    simulated = simulate(short, "sr_window", replications=2).summary
    assert simulated.identity is not None
    assert (live.timeline_s, live.time_scale, live.rate_scale) == (45.0, 1.0, 1.0)
    assert experiment_differences(simulated.identity, live) == []
    assert live.policy_hash == simulated.identity.policy_hash
    # the full scenario squeezed into 45 s by --duration plays it 40 times faster
    squeezed = live_identity(
        plan_for(load_scenario("acquirer_outage"), duration_s=45.0), "sr_window"
    )
    assert squeezed.timeline_s == pytest.approx(1800.0) and squeezed.time_scale == pytest.approx(
        40.0
    )
    full = simulate(load_scenario("acquirer_outage"), "sr_window", replications=1).summary
    assert full.identity is not None
    assert experiment_differences(full.identity, squeezed) == ["the time scale (×1 vs ×40)"]
    faster = live_identity(
        plan_for(load_scenario("acquirer_outage"), duration_s=45.0, rate_scale=2.0), "sr_window"
    )
    assert experiment_differences(squeezed, faster) == ["the rate scale (×1 vs ×2)"]
    assert live_identity(plan, "not_in_the_scenario").policy_hash is None
