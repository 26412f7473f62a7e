"""A "Payments" tab in Locust's web UI: the master's merged payment figures, live.

Locust 2.47's React web UI draws extra tabs from its page's template arguments and the
statistics it polls (``GET /stats/requests``, every 2 s while a test runs):

- ``extended_tabs``: ``[{"key", "title"}]``, one tab each; a tab without a component
  of its own renders a table;
- ``extended_tables``: ``[{"key", "structure": [{"key", "title"}]}]``, that table's
  columns;
- ``extended_stats`` in the ``/stats/requests`` answer: ``[{"key", "data": rows}]``,
  its rows (added here by an ``after_request`` hook);
- ``extended_csv_files``: ``[{"href", "title"}]``, links on the "Download Data" tab.

The UI turns every object key into camelCase (``a_b`` becomes ``aB``) and leaves values
alone, so rows use one-word column keys and carry acquirer names and codes as values.
The same figures are served as JSON (``GET /stats/payments``) and CSV
(``GET /stats/payments/csv``).

Every figure comes from the functions that write the run's final summary
(:func:`loadtests.live_summary.build_summary`) and judge its SLOs
(:class:`loadtests.slo.Observed`, :func:`loadtests.slo.evaluate`), applied to what the
master has merged so far. Only the master (or a single local process) has a web UI.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from loadtests.live_summary import build_summary
from loadtests.live_tally import LiveTally
from loadtests.plan import RunPlan
from loadtests.slo import Observed, SloError, effective_slo, evaluate
from scenarios.taxonomy import classify

if TYPE_CHECKING:  # Locust (and its gevent monkey-patching) only where a web UI runs
    from flask import Response
    from locust.env import Environment

    from loadtests.harness import Harness

log = logging.getLogger("routelab.loadtest")

TAB_KEY = "payments"
TAB_TITLE = "Payments"
JSON_PATH = "/stats/payments"
CSV_PATH = "/stats/payments/csv"
TOP_DECLINES = 10
# (key, title): one-word keys, which the UI's camelCase conversion leaves as they are
COLUMNS = (("section", "Section"), ("figure", "Figure"), ("value", "Value"))
STATS_ENDPOINT = "locust.request_stats"  # Locust's own GET /stats/requests


# -- the figures (pure) ---------------------------------------------------------------------


def payment_figures(tally: LiveTally, plan: RunPlan | None) -> dict[str, Any]:
    """The payment figures of ``tally`` as JSON-ready data; null where not measured (yet).

    Before a test starts (no plan) only the counts are there, all zero. Late and
    dropped sends and HTTP errors count the whole run, as the master's closing log line
    does; the rates count payments after the warm-up, as the summary does.
    """
    c = tally.counts
    figures: dict[str, Any] = {
        "scenario": None,
        "payments": int(c["payments"]),
        "approved": int(c["approved"]),
        "auth_rate": None,
        "auth_rate_ci95": [None, None],
        "ci_method": None,
        "first_attempt_auth_rate": None,
        "attempts_per_payment": None,
        "acquirers": [],
        "declines": [],
        "declines_by_class": dict(tally.tally.declines_by_class),
        "latency_ms": {"p50": None, "p95": None, "p99": None},
        "late_sends": int(c["late_all"]),
        "dropped_sends": int(c["dropped_all"]),
        "http_errors": int(c["errors_all"]),
        "http_errors_by_kind": dict(tally.http_errors),
        "http_error_rate": None,
        "slo": None,
    }
    if plan is None:
        return figures
    # the router's policy is not known here, and the web UI does not show it
    summary = build_summary(tally, plan, policy="", wall_seconds=0.0, reconciliation=None)
    latency = summary.latency_ms
    figures.update(
        scenario=summary.scenario,
        auth_rate=summary.auth_rate,
        auth_rate_ci95=list(summary.auth_rate_ci95),
        ci_method=summary.ci_method,
        first_attempt_auth_rate=summary.first_attempt_auth_rate,
        attempts_per_payment=summary.attempts_per_payment,
        acquirers=[
            {"acquirer": name, "share": share, "auth_rate": summary.acquirer_auth_rate[name]}
            for name, share in summary.acquirer_share.items()
        ],
        declines=[
            _decline(code, count)
            for code, count in list(summary.declines_by_code.items())[:TOP_DECLINES]
        ],
        latency_ms={"p50": latency.p50, "p95": latency.p95, "p99": latency.p99},
        http_error_rate=summary.http_error_rate,
    )
    try:
        slo = effective_slo(plan.scenario.slo, plan.options.slo)
    except SloError as exc:
        figures["slo"] = {
            "ok": None,
            "breaches": [],
            "passed": [],
            "unmeasured": [],
            "error": str(exc),
        }
    else:
        verdict = evaluate(slo, Observed.from_summary(summary))
        figures["slo"] = {
            "ok": verdict.ok,
            "breaches": [breach.line() for breach in verdict.breaches],
            "passed": verdict.passed,
            "unmeasured": verdict.unmeasured,
            "error": None,
        }
    # JSON has no NaN (an undefined ratio): orjson writes it as null
    data: dict[str, Any] = orjson.loads(orjson.dumps(figures))
    return data


def _decline(code: str, count: int) -> dict[str, Any]:
    """A decline code with its class and meaning in the router's own taxonomy."""
    info = classify(code)
    return {"code": code, "class": str(info.outcome), "meaning": info.meaning, "count": count}


class Line(NamedTuple):
    """One line of the tab and of the CSV: the figure's value and how the tab shows it."""

    section: str
    figure: str
    value: float | int | str | None  # as the CSV has it (empty: not measured)
    text: str  # as the tab shows it


def _pct(ratio: float | None) -> tuple[float | None, str]:
    return ratio, "n/a" if ratio is None else f"{ratio * 100.0:.2f} %"


def _num(value: float | None, unit: str = "") -> tuple[float | None, str]:
    return value, "n/a" if value is None else f"{value:.2f}{unit}"


def _count(n: int) -> tuple[int, str]:
    return n, str(n)


def payment_lines(figures: dict[str, Any]) -> list[Line]:
    """The figures of :func:`payment_figures`, one line each, in reading order."""
    f = figures
    low, high = f["auth_rate_ci95"]
    method = f["ci_method"] or "wilson"
    pay = "Payments (after warm-up)"
    lines = [
        Line(pay, "payments", *_count(f["payments"])),
        Line(pay, "approved", *_count(f["approved"])),
        Line(pay, "auth rate", *_pct(f["auth_rate"])),
        Line(pay, f"auth rate, 95 % CI low ({method})", *_pct(low)),
        Line(pay, f"auth rate, 95 % CI high ({method})", *_pct(high)),
        Line(pay, "first-attempt auth rate", *_pct(f["first_attempt_auth_rate"])),
        Line(pay, "attempts per payment", *_num(f["attempts_per_payment"])),
        Line(pay, "HTTP error rate", *_pct(f["http_error_rate"])),
    ]
    for row in f["acquirers"]:
        name = row["acquirer"]
        lines.append(Line("Acquirers", f"{name}: share of first attempts", *_pct(row["share"])))
        lines.append(Line("Acquirers", f"{name}: auth rate", *_pct(row["auth_rate"])))
    for row in f["declines"]:
        figure = f"code {row['code']} ({row['class']}: {row['meaning']})"
        lines.append(Line("Top decline codes", figure, *_count(row["count"])))
    for name, value in f["latency_ms"].items():
        lines.append(Line("Latency from intended send", f"{name} (ms)", *_num(value, " ms")))
    gen = "Generator (whole run)"
    lines += [
        Line(gen, "late sends", *_count(f["late_sends"])),
        Line(gen, "dropped sends", *_count(f["dropped_sends"])),
        Line(gen, "HTTP errors", *_count(f["http_errors"])),
    ]
    lines.extend(_slo_lines(f["slo"]))
    return lines


def _slo_lines(slo: dict[str, Any] | None) -> list[Line]:
    section = "SLO (so far)"
    if slo is None:
        return [Line(section, "verdict", "", "no test yet")]
    if slo["error"]:
        return [Line(section, "verdict", "", slo["error"])]
    if slo["breaches"]:
        verdict = "breached"
    elif slo["passed"]:
        verdict = "ok"
    elif slo["unmeasured"]:
        verdict = "not measured yet"
    else:
        verdict = "no SLO set"
    lines = [Line(section, "verdict", verdict, verdict)]
    for kind in ("breaches", "passed", "unmeasured"):
        lines += [Line(section, kind, text, text) for text in slo[kind]]
    return lines


def table_rows(lines: list[Line]) -> list[dict[str, str]]:
    """The tab's rows: one dict per line, keyed by :data:`COLUMNS`."""
    return [{"section": line.section, "figure": line.figure, "value": line.text} for line in lines]


def csv_text(lines: list[Line]) -> str:
    """The lines as CSV: section, figure, value (empty where not measured)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([key for key, _ in COLUMNS])
    writer.writerows(
        [line.section, line.figure, "" if line.value is None else line.value] for line in lines
    )
    return out.getvalue()


def template_args() -> dict[str, Any]:
    """What the web UI's page needs to draw the tab and link the CSV (keys as Locust reads them)."""
    return {
        "extended_tabs": [{"key": TAB_KEY, "title": TAB_TITLE}],
        "extended_tables": [
            {"key": TAB_KEY, "structure": [{"key": k, "title": t} for k, t in COLUMNS]}
        ],
        # relative, as Locust's own links: they follow --web-base-path
        "extended_csv_files": [{"href": f".{CSV_PATH}", "title": "Download payment figures CSV"}],
    }


# -- the web UI (thin) ---------------------------------------------------------------------


def current_figures(environment: Environment, harness: Harness) -> dict[str, Any]:
    """What ``harness`` (on the master: the merged tally) holds so far, with the runner's state."""
    runner = environment.runner
    return {
        "state": runner.state if runner is not None else None,
        **payment_figures(harness.merged, harness.plan),
    }


def register(environment: Environment, harness: Harness | None = None) -> None:
    """Add the Payments tab, its JSON and CSV routes to ``environment.web_ui``.

    ``harness`` defaults to this process's :data:`loadtests.harness.HARNESS`. The routes
    only read it; a request costs one summary of the tally (well under a millisecond).
    """
    from flask import Blueprint, Response, request

    from loadtests.harness import HARNESS

    web_ui = environment.web_ui
    if web_ui is None or web_ui.app is None:
        return
    source = HARNESS if harness is None else harness
    app = web_ui.app
    web_ui.template_args.update(template_args())
    guard: Callable[[Callable[[], Response]], Callable[[], Response]] = (
        web_ui.auth_required_if_enabled
    )
    # under Locust's own --web-base-path, as its routes are
    base_path = getattr(environment.parsed_options, "web_base_path", None) or None
    blueprint = Blueprint("routelab_payments", __name__, url_prefix=base_path)

    def payments_json() -> Response:
        figures = current_figures(environment, source)
        return Response(orjson.dumps(figures), mimetype="application/json")

    def payments_csv() -> Response:
        lines = payment_lines(current_figures(environment, source))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return Response(
            csv_text(lines),
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment;filename=routelab_payments_{stamp}.csv"},
        )

    blueprint.add_url_rule(JSON_PATH, "payments", guard(payments_json))
    blueprint.add_url_rule(CSV_PATH, "payments_csv", guard(payments_csv))
    app.register_blueprint(blueprint)

    def add_rows(response: Response) -> Response:
        """Hand the tab its rows with the statistics the web UI polls anyway."""
        if request.endpoint != STATS_ENDPOINT or response.status_code != 200:
            return response
        try:
            data = json.loads(response.get_data())
            rows = table_rows(payment_lines(current_figures(environment, source)))
            data["extended_stats"] = [{"key": TAB_KEY, "data": rows}]
            response.set_data(json.dumps(data))
        except Exception:  # never break Locust's own statistics for the tab's sake
            log.exception("routelab: cannot add the payment figures to the web UI")
        return response

    app.after_request(add_rows)
