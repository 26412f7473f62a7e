"""The HTML run report: self-contained, plain labels, every figure from the run's files.

A report is opened by people without network access and by browsers that block
anything remote, so every chart must be inline and nothing may be fetched.
"""

from __future__ import annotations

import base64
import csv
import math
import re
from pathlib import Path

import pytest

from reports.charts import OUTCOME_PARTS, outcome_shares
from reports.html import write_report
from reports.metrics import pct
from reports.rundata import RunDirError, load_run
from reports.testing import live_shaped_run
from reports.verdict import incident_impacts
from results.contract import SUMMARY, read_summary
from scenarios.loader import load_scenario
from simulator import simulate

URL_ATTRIBUTE = re.compile(r'(?:src|href)\s*=\s*"([^"]*)"', re.IGNORECASE)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    scenario = load_scenario("acquirer_outage")
    out = tmp_path_factory.mktemp("runs")
    simulate(scenario, "sr_window", replications=2).write(out / "sim")
    simulate(scenario, "sr_window", seed=5, replications=1).write(out / "single")
    live_shaped_run(out / "single", out / "live", time_scale=30.0)
    return {"sim": out / "sim", "live": out / "live"}


@pytest.fixture(scope="module")
def sim_html(runs: dict[str, Path]) -> str:
    return write_report(runs["sim"]).read_text("utf-8")


def test_report_is_written_beside_the_run_by_default(runs: dict[str, Path]) -> None:
    path = write_report(runs["sim"])
    assert path == runs["sim"] / "report.html" and path.stat().st_size > 10_000


def test_report_is_self_contained(sim_html: str) -> None:
    assert "<script" not in sim_html.lower() and "<link" not in sim_html.lower()
    assert "@import" not in sim_html and "url(" not in sim_html
    urls = URL_ATTRIBUTE.findall(sim_html)
    assert urls, "the report has no images"
    for url in urls:
        assert url.startswith("data:image/svg+xml;base64,"), url[:60]
        svg = base64.b64decode(url.split(",", 1)[1]).decode("utf-8")
        assert "<svg" in svg and "http://www.w3.org/2000/svg" in svg
        # text is drawn as paths: no font needed, none fetched
        assert "<text" not in svg and "@font-face" not in svg


def test_report_has_every_chart_titled(sim_html: str) -> None:
    alts = re.findall(r'<img src="[^"]+" alt="([^"]+)"', sim_html)
    assert alts == [
        "Authorisation rate over time",
        "Traffic share per acquirer over time",
        "Retries and what they recovered",
        "Declines by code and class",
        "Latency distribution",
        "Approvals against cost",
    ]


def test_headline_numbers_come_from_the_summary(runs: dict[str, Path], sim_html: str) -> None:
    s = read_summary(runs["sim"])
    lo, hi = s.auth_rate_ci95
    assert f"Under the sr_window policy, {pct(s.auth_rate)} of {s.payments:,} payments" in sim_html
    assert f"95 % CI {pct(lo)} – {pct(hi)}" in sim_html
    assert pct(s.first_attempt_auth_rate) in sim_html
    assert f"{s.cost.bps:,.1f}\u00a0bps" in sim_html
    assert f"{s.latency_ms.p95:,.0f}\u00a0ms" in sim_html
    assert "Authorisation rate" in sim_html and "auth_rate" not in sim_html
    assert "Load test" not in sim_html  # simulator runs have no load-test section


def test_incident_impact_is_measured_from_the_time_series(
    runs: dict[str, Path], sim_html: str
) -> None:
    run = load_run(runs["sim"])
    (impact,) = incident_impacts(run)
    inside_pay = inside_appr = 0
    with (runs["sim"] / "timeseries.csv").open() as fh:
        for row in csv.DictReader(fh):
            if impact.start_s <= float(row["t_start_s"]) < impact.end_s:
                inside_pay += int(row["payments"])
                inside_appr += int(row["approved"])
    assert impact.inside == pytest.approx(inside_appr / inside_pay)
    assert f"the authorisation rate was {pct(impact.inside)}" in sim_html


def test_outcome_shares_add_up_and_match_the_summary(runs: dict[str, Path]) -> None:
    run = load_run(runs["sim"])
    shares = outcome_shares(run)
    assert len(shares) == len(OUTCOME_PARTS)
    assert sum(shares) == pytest.approx(1.0)
    assert shares[0] == pytest.approx(run.summary.first_attempt_auth_rate, abs=1e-6)
    assert shares[0] + shares[1] == pytest.approx(run.summary.auth_rate, abs=1e-6)


def test_live_runs_show_the_load_test_figures(runs: dict[str, Path]) -> None:
    html = write_report(runs["live"]).read_text("utf-8")
    s = read_summary(runs["live"])
    assert "live load test" in html and "Load test" in html
    assert "Offered rate" in html and f"{s.offered_rate:,.1f} payments/s" in html
    assert "HTTP error rate" in html and "Reconciliation: mismatches" in html
    # a compressed timeline is said plainly
    assert "30.0× faster" in html
    assert load_run(runs["live"]).time_scale == pytest.approx(30.0)


def test_undefined_figures_render_as_n_a(runs: dict[str, Path], tmp_path: Path) -> None:
    s = read_summary(runs["sim"])
    empty = s.model_copy(
        update={
            "auth_rate": math.nan,
            "auth_rate_ci95": (math.nan, math.nan),
            "cost": s.cost.model_copy(update={"per_approved": math.nan, "bps": math.nan}),
            "latency_ms": s.latency_ms.model_copy(update={"p95": math.nan}),
        }
    )
    for name in ("timeseries.csv", "latency_histogram.csv"):
        (tmp_path / name).write_bytes((runs["sim"] / name).read_bytes())
    (tmp_path / SUMMARY).write_text(empty.model_dump_json())  # NaN is written as null
    assert '"auth_rate":null' in (tmp_path / SUMMARY).read_text()
    html = write_report(tmp_path).read_text("utf-8")
    text = URL_ATTRIBUTE.sub("", html)  # the images' base64 may spell anything
    assert "n/a" in text and not re.search(r"\bnan\b", text, re.IGNORECASE)


def test_a_directory_without_a_summary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="not a run directory"):
        write_report(tmp_path)
    with pytest.raises(RunDirError, match="no such run directory"):
        write_report(tmp_path / "missing")
    (tmp_path / SUMMARY).write_text('{"engine": "simulator"}')
    with pytest.raises(RunDirError, match=r"summary\.json: scenario: Field required"):
        write_report(tmp_path)
