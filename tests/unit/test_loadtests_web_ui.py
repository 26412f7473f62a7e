"""The Payments tab of Locust's web UI: figures, rows and CSV from a tally, and the tab and
routes on a real Locust web UI (queried through Flask's test client, no network)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from loadtests.live_tally import LiveTally, fee_schedule
from loadtests.options import HarnessOptions
from loadtests.payer import Attempt, PaymentAnswer
from loadtests.plan import RunPlan
from loadtests.web_ui import (
    CSV_PATH,
    JSON_PATH,
    TAB_KEY,
    csv_text,
    payment_figures,
    payment_lines,
    register,
    table_rows,
)
from scenarios.schema import Scenario

if TYPE_CHECKING:  # imports Locust: only the child process below may
    from loadtests.harness import Harness

SLOS = ("auth_rate_min=0.9", "p99_ms=500", "error_rate_max=0.1")
PLAN_OPTIONS: dict[str, Any] = {"duration_s": 10.0, "warmup_s": 1.0, "slo": SLOS}
# (intended send time, status, code, decline class, attempts as (acquirer, outcome, void))
PAYMENTS: list[tuple[float, str, str, str | None, list[tuple[str, str, str | None]]]] = [
    (0.5, "declined", "54", "hard_decline", [("acq_a", "hard_decline", None)]),  # warm-up
    (1.5, "approved", "00", None, [("acq_a", "approved", None)]),
    (
        1.6,
        "approved",
        "00",
        None,
        [("acq_a", "technical_error", None), ("acq_b", "approved", None)],
    ),
    (2.5, "declined", "51", "soft_decline", [("acq_b", "soft_decline", None)]),
    (2.6, "failed", "68", "timeout", [("acq_c", "timeout", "voided")]),
    (2.65, "declined", "54", "hard_decline", [("acq_a", "hard_decline", None)]),
]


def plan_for(baseline: Scenario, **options: object) -> RunPlan:
    return RunPlan.build(baseline, HarnessOptions(**options))  # type: ignore[arg-type]


def fill(plan: RunPlan) -> LiveTally:
    """Five payments after a 1 s warm-up (two approved, one of them on a cascade), one in
    it, a dropped arrival, an HTTP error and two late sends (one in the warm-up); every
    answer 100 ms after its intended send."""
    tally = LiveTally(plan.warmup_s, plan.bucket_s, fee_schedule(plan.scenario))
    cards = plan.payments("lttest", 0, 0)
    for t, status, code, decline_class, attempts in PAYMENTS:
        answer = PaymentAnswer(status, code, decline_class, tuple(Attempt(*a) for a in attempts))
        tally.scheduled(t)
        tally.sent(t, t, 0.0, late=False)
        tally.answered(t, cards.next()[0], answer, 100.0, 100.0)
    tally.scheduled(2.7)
    tally.dropped(2.7)
    tally.scheduled(2.8)
    tally.sent(2.8, 2.8, 0.0, late=False)
    tally.http_error(2.8, "http_5xx")
    tally.sent(0.9, 0.95, 50.0, late=True)
    tally.sent(2.9, 2.96, 60.0, late=True)
    return tally


@pytest.fixture
def plan(baseline: Scenario) -> RunPlan:
    return plan_for(baseline, **PLAN_OPTIONS)


@pytest.fixture
def tally(plan: RunPlan) -> LiveTally:
    return fill(plan)


# -- the figures, the tab's rows and the CSV -------------------------------------------


def test_figures_are_the_summarys_figures_of_the_tally(tally: LiveTally, plan: RunPlan) -> None:
    figures = payment_figures(tally, plan)
    assert figures["scenario"] == "baseline"
    assert (figures["payments"], figures["approved"]) == (5, 2)
    assert figures["auth_rate"] == 0.4
    # Wilson 95 % interval of 2 out of 5
    assert figures["auth_rate_ci95"] == [pytest.approx(0.117621), pytest.approx(0.769276)]
    assert figures["ci_method"] == "wilson"
    assert figures["first_attempt_auth_rate"] == 0.2
    assert figures["attempts_per_payment"] == 1.2  # 6 attempts
    # share of first attempts; auth rate = approvals / attempts at that acquirer
    assert figures["acquirers"] == [
        {"acquirer": "acq_a", "share": 0.6, "auth_rate": pytest.approx(1 / 3, abs=1e-6)},
        {"acquirer": "acq_b", "share": 0.2, "auth_rate": 0.5},
        {"acquirer": "acq_c", "share": 0.2, "auth_rate": 0.0},
    ]
    # most frequent first, then in the order first seen; the warm-up's decline not among them
    assert figures["declines"] == [
        {"code": "51", "class": "soft_decline", "meaning": "insufficient funds", "count": 1},
        {"code": "68", "class": "timeout", "meaning": "response received too late", "count": 1},
        {"code": "54", "class": "hard_decline", "meaning": "expired card", "count": 1},
    ]
    assert figures["declines_by_class"] == {"soft_decline": 1, "timeout": 1, "hard_decline": 1}
    latency = figures["latency_ms"]
    assert set(latency) == {"p50", "p95", "p99"}
    assert all(v == pytest.approx(100.0, rel=0.01) for v in latency.values())  # 2 % buckets
    # the generator over the whole run; the error rate after the warm-up (1 of 7 sent)
    assert (figures["late_sends"], figures["dropped_sends"], figures["http_errors"]) == (2, 1, 1)
    assert figures["http_errors_by_kind"] == {"http_5xx": 1}
    assert figures["http_error_rate"] == pytest.approx(1 / 7, abs=1e-6)
    slo = figures["slo"]
    assert slo["ok"] is False and slo["error"] is None
    assert slo["breaches"] == [
        "SLO breached: auth_rate_min 0.4 < 0.9 (-55.6 %)",
        "SLO breached: error_rate_max 0.1429 > 0.1 (+42.9 %)",
    ]
    assert len(slo["passed"]) == 1 and slo["passed"][0].startswith("p99_ms 100.")
    assert slo["unmeasured"] == []


def test_before_a_test_and_before_any_payment_figures_are_zeros_and_nulls(plan: RunPlan) -> None:
    idle = payment_figures(LiveTally(), None)
    counts = ("payments", "approved", "late_sends", "dropped_sends", "http_errors")
    assert [idle[name] for name in counts] == [0] * len(counts)
    assert idle["auth_rate"] is None and idle["auth_rate_ci95"] == [None, None]
    assert idle["latency_ms"] == {"p50": None, "p95": None, "p99": None}
    assert idle["acquirers"] == [] and idle["declines"] == [] and idle["slo"] is None
    started = payment_figures(LiveTally(plan.warmup_s, plan.bucket_s), plan)
    assert started["payments"] == 0 and started["auth_rate"] is None
    assert started["auth_rate_ci95"] == [0.0, 1.0]  # Wilson knows nothing yet
    assert started["acquirers"][0] == {"acquirer": "acq_a", "share": None, "auth_rate": None}
    assert started["slo"]["ok"] is True and started["slo"]["breaches"] == []
    assert len(started["slo"]["unmeasured"]) == 3
    for figures in (idle, started):
        json.dumps(figures, allow_nan=False)  # strict JSON: no NaN anywhere
    rows = table_rows(payment_lines(idle))
    assert {"section": "Payments (after warm-up)", "figure": "auth rate", "value": "n/a"} in rows
    assert rows[-1] == {"section": "SLO (so far)", "figure": "verdict", "value": "no test yet"}
    rows = table_rows(payment_lines(started))
    verdict = {"section": "SLO (so far)", "figure": "verdict", "value": "not measured yet"}
    assert verdict in rows


def test_rows_show_every_figure_in_reading_order(tally: LiveTally, plan: RunPlan) -> None:
    rows = table_rows(payment_lines(payment_figures(tally, plan)))
    assert all(set(row) == {"section", "figure", "value"} for row in rows)
    shown = {(row["section"], row["figure"]): row["value"] for row in rows}
    pay = "Payments (after warm-up)"
    assert shown[pay, "payments"] == "5" and shown[pay, "approved"] == "2"
    assert shown[pay, "auth rate"] == "40.00 %"
    assert shown[pay, "auth rate, 95 % CI low (wilson)"] == "11.76 %"
    assert shown[pay, "auth rate, 95 % CI high (wilson)"] == "76.93 %"
    assert shown[pay, "first-attempt auth rate"] == "20.00 %"
    assert shown[pay, "attempts per payment"] == "1.20"
    assert shown[pay, "HTTP error rate"] == "14.29 %"
    assert shown["Acquirers", "acq_a: share of first attempts"] == "60.00 %"
    assert shown["Acquirers", "acq_a: auth rate"] == "33.33 %"
    assert shown["Acquirers", "acq_c: auth rate"] == "0.00 %"
    assert shown["Top decline codes", "code 68 (timeout: response received too late)"] == "1"
    assert shown["Top decline codes", "code 54 (hard_decline: expired card)"] == "1"
    assert shown["Latency from intended send", "p99 (ms)"].endswith(" ms")
    gen = "Generator (whole run)"
    assert (shown[gen, "late sends"], shown[gen, "dropped sends"], shown[gen, "HTTP errors"]) == (
        "2",
        "1",
        "1",
    )
    slo = [row for row in rows if row["section"] == "SLO (so far)"]
    assert slo[0]["value"] == "breached"
    assert [row["figure"] for row in slo[1:]] == ["breaches", "breaches", "passed"]
    sections = [row["section"] for row in rows]
    assert sections[0] == pay and sections[-1] == "SLO (so far)"


def test_the_csv_has_the_raw_figures(tally: LiveTally, plan: RunPlan) -> None:
    lines = payment_lines(payment_figures(tally, plan))
    table = list(csv.reader(io.StringIO(csv_text(lines))))
    assert table[0] == ["section", "figure", "value"]
    assert len(table) == len(lines) + 1
    values = {(section, figure): value for section, figure, value in table[1:]}
    assert values["Payments (after warm-up)", "auth rate"] == "0.4"
    assert values["Payments (after warm-up)", "attempts per payment"] == "1.2"
    assert values["Acquirers", "acq_b: share of first attempts"] == "0.2"
    idle = list(
        csv.reader(io.StringIO(csv_text(payment_lines(payment_figures(LiveTally(), None)))))
    )
    assert ["Payments (after warm-up)", "auth rate", ""] in idle  # not measured: empty


# -- on a real Locust web UI ---------------------------------------------------------------
#
# Importing Locust monkey-patches the whole process with gevent, which the rest of the test
# session must not inherit: these tests run this file as a script in a child process, which
# builds a real Locust Environment and web UI (never listening: delayed start), registers
# the tab and queries it through Flask's test client, and prints what it was answered.


def serve_and_query() -> dict[str, Any]:
    """In a process of its own: the answers of a real Locust web UI with the tab registered."""
    from locust import User, constant, task
    from locust.env import Environment

    from loadtests.harness import Harness
    from scenarios.loader import BUNDLED_DIR, load_scenario

    class Idle(User):
        wait_time = constant(1)

        @task
        def idle(self) -> None:
            pass

    def answers(harness: Harness) -> dict[str, Any]:
        env = Environment(user_classes=[Idle], host="http://127.0.0.1:1")
        runner = env.create_local_runner()
        web_ui = env.create_web_ui(host="127.0.0.1", port=0, delayed_start=True)
        register(env, harness)
        assert web_ui.app is not None
        client = web_ui.app.test_client()
        got: dict[str, Any] = {}
        for path in (JSON_PATH, "/stats/requests", "/tasks", CSV_PATH, "/"):
            response = client.get(path)
            body = response.get_data(as_text=True)
            got[path] = {
                "status": response.status_code,
                "mimetype": response.mimetype,
                "disposition": response.headers.get("Content-Disposition"),
                "body": json.loads(body) if response.mimetype == "application/json" else body,
            }
        runner.quit()
        return got

    plan = plan_for(load_scenario(BUNDLED_DIR / "baseline.yaml"), **PLAN_OPTIONS)
    filled = Harness()
    filled.plan, filled.merged = plan, fill(plan)
    return {"idle": answers(Harness()), "filled": answers(filled)}


@pytest.fixture(scope="module")
def served() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    answers: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answers


def test_the_route_answers_before_a_test_starts(served: dict[str, Any]) -> None:
    answer = served["idle"][JSON_PATH]
    assert (answer["status"], answer["mimetype"]) == (200, "application/json")
    figures = answer["body"]
    assert figures["state"] == "ready"
    assert figures["payments"] == 0 and figures["auth_rate"] is None and figures["slo"] is None
    stats = served["idle"]["/stats/requests"]["body"]
    assert stats["extended_stats"][0]["key"] == TAB_KEY
    assert stats["extended_stats"][0]["data"][0]["value"] == "0"


def test_the_figures_rows_and_csv_are_served(served: dict[str, Any], plan: RunPlan) -> None:
    tally = fill(plan)
    got = served["filled"]
    answer = got[JSON_PATH]
    assert (answer["status"], answer["mimetype"]) == (200, "application/json")
    assert answer["body"] == {"state": "ready", **payment_figures(tally, plan)}
    assert answer["body"]["payments"] == 5 and answer["body"]["auth_rate"] == 0.4

    # the rows ride along with the statistics the web UI polls; Locust's own stay as they were
    stats = got["/stats/requests"]
    assert stats["status"] == 200
    rows = table_rows(payment_lines(payment_figures(tally, plan)))
    assert stats["body"]["extended_stats"] == [{"key": TAB_KEY, "data": rows}]
    assert stats["body"]["state"] == "ready"
    assert stats["body"]["stats"][-1]["name"] == "Aggregated"
    assert "extended_stats" not in got["/tasks"]["body"]

    answer = got[CSV_PATH]
    assert (answer["status"], answer["mimetype"]) == (200, "text/csv")
    assert answer["disposition"].startswith("attachment;filename=routelab_payments_")
    assert answer["body"] == csv_text(payment_lines(payment_figures(tally, plan)))


def test_the_page_carries_the_tab(served: dict[str, Any]) -> None:
    page = served["filled"]["/"]
    assert page["status"] == 200
    args = json.loads(page["body"].split("window.templateArgs = ", 1)[1].split("\n", 1)[0])
    assert args["extended_tabs"] == [{"key": TAB_KEY, "title": "Payments"}]
    assert args["extended_tables"] == [
        {
            "key": TAB_KEY,
            "structure": [
                {"key": "section", "title": "Section"},
                {"key": "figure", "title": "Figure"},
                {"key": "value", "title": "Value"},
            ],
        }
    ]
    assert args["extended_csv_files"] == [
        {"href": f".{CSV_PATH}", "title": "Download payment figures CSV"}
    ]


def test_the_figures_need_no_locust() -> None:
    # only register() imports Locust, in the process that has a web UI
    check = "import sys, loadtests.web_ui; assert 'locust' not in sys.modules, 'imported'"
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_installed_web_ui_reads_the_keys_the_tab_uses() -> None:
    # the React bundle camelCases template args and JSON keys: extended_tabs -> extendedTabs
    spec = importlib.util.find_spec("locust")  # found, not imported
    assert spec is not None and spec.origin is not None
    assets = Path(spec.origin).parent / "webui" / "dist" / "assets"
    bundle = "".join(p.read_text("utf-8") for p in assets.glob("*.js"))
    for key in ("extendedTabs", "extendedTables", "extendedStats", "extendedCsvFiles"):
        assert key in bundle, key


if __name__ == "__main__":
    print(json.dumps(serve_and_query()))
