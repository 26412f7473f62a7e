"""Importers: the committed sample exports read, and bad exports get one line per problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from calibration.attempts import ExportError
from calibration.importers import load_exports
from routelab.cli import app

DATA = Path(__file__).resolve().parents[1] / "data"
MAPPING = [
    "time=When", "payment_id=Order", "attempt=Try", "acquirer=PSP", "amount=Amount (cents)",
    "currency=Ccy", "network=Scheme", "card_type=Funding", "issuer_country=BIN country",
    "status=Result", "code=Response code", "latency_ms=Latency", "fee=Fee (cents)",
]  # fmt: skip
SAMPLES: dict[str, tuple[list[Path], dict[str, object]]] = {
    "routelab": ([DATA / "routelab_attempts.parquet"], {}),
    "hyperswitch": (
        [DATA / "hyperswitch_payment_attempt.csv"],
        {"connector_events": [DATA / "hyperswitch_connector_events.csv"]},
    ),
    "stripe": (
        [DATA / "stripe_acq_a.csv", DATA / "stripe_acq_b.csv"],
        {"acquirers": ["acq_a", "acq_b"]},
    ),
    "adyen": (
        [DATA / "adyen_acq_a.csv", DATA / "adyen_acq_b.csv"],
        {"acquirers": ["acq_a", "acq_b"]},
    ),
    "csv": ([DATA / "merchant_attempts.csv"], {"mapping": dict(m.split("=", 1) for m in MAPPING)}),
}


@pytest.mark.parametrize("fmt", list(SAMPLES))
def test_every_sample_export_reads_the_same_attempts(fmt: str) -> None:
    paths, kwargs = SAMPLES[fmt]
    attempts, reports = load_exports(paths, fmt, merchant_country="DE", **kwargs)  # type: ignore[arg-type]
    reference, _ = load_exports(*SAMPLES["routelab"][:1], "routelab")
    assert len(attempts) == len(reference) == sum(r.used for r in reports)
    assert sorted(attempts.acquirer.names) == ["acq_a", "acq_b"]
    assert attempts.code.counts() == reference.code.counts()
    assert attempts.network.counts() == reference.network.counts()
    assert attempts.card_type.counts() == reference.card_type.counts()
    assert int(attempts.amount.sum()) == int(reference.amount.sum())
    assert attempts.has_latency == (fmt in ("routelab", "hyperswitch", "csv"))
    assert attempts.has_fees == (fmt in ("routelab", "stripe", "csv"))


def test_the_routelab_csv_log_reads_like_the_parquet_one() -> None:
    a, _ = load_exports([DATA / "routelab_attempts.csv"], "routelab")
    b, _ = load_exports([DATA / "routelab_attempts.parquet"], "routelab")
    assert len(a) == len(b) and a.code.counts() == b.code.counts()


def problems_of(tmp_path: Path, name: str, text: str, fmt: str, **kwargs: object) -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ExportError) as info:
        load_exports([path], fmt, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


STRIPE_HEADER = "id,Created date (UTC),Amount,Currency,Status,Card Brand,Decline Reason,Fee\n"


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "s.csv", "id,Amount\nch_1,10.00\n", "stripe")
    assert any("column 'Created date (UTC)': required column is missing" in p for p in problems)
    assert all(p.startswith(str(tmp_path / "s.csv")) for p in problems)


def test_bad_values_name_the_line_column_and_value_once_per_problem(tmp_path: Path) -> None:
    rows = [
        "ch_1,2025-03-03 10:00:00,10.00,eur,Paid,Visa,,0.40",
        "ch_2,2025-03-03 10:00:01,ten,eur,Paid,Visa,,0.40",
        "ch_3,yesterday,11.00,eur,Failed,Visa,do_not_honor,",
        "ch_4,2025-03-03 10:00:03,abc,eur,Paid,Visa,,0.40",
    ]
    problems = problems_of(tmp_path, "s.csv", STRIPE_HEADER + "\n".join(rows) + "\n", "stripe")
    assert (
        f"{tmp_path / 's.csv'}: line 3: Amount: not a number (got 'ten') (2 rows in all)"
        in problems
    )
    assert any(
        "line 4: Created date (UTC): not a date-time" in p and "'yesterday'" in p for p in problems
    )
    assert len(problems) == 2


def test_rows_that_are_no_authorisation_are_counted_with_their_reason(tmp_path: Path) -> None:
    rows = [
        "ch_1,2025-03-03 10:00:00,10.00,eur,Paid,Visa,,0.40",
        "ch_2,2025-03-03 10:00:01,12.00,eur,Canceled,Visa,,",
        "ch_3,2025-03-03 10:00:02,11.00,eur,Failed,Visa,some_new_reason,",
    ]
    path = tmp_path / "s.csv"
    path.write_text(STRIPE_HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    attempts, (report,) = load_exports([path], "stripe")
    assert len(attempts) == 2 and report.rows == 3 and report.used == 2
    assert report.skipped == {"Status 'canceled' is not an authorisation outcome": 1}
    assert any("'some_new_reason'" in n and "(05)" in n for n in report.notes)


def test_a_mapping_is_checked_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ExportError) as info:
        load_exports([tmp_path / "x.csv"], "csv", mapping={"amount": "A", "acquirr": "PSP"})
    text = "\n".join(info.value.problems)
    assert "--map acquirr=...: unknown field" in text
    assert "--map time=COLUMN is required" in text
    assert "--map status=COLUMN or code=COLUMN is required" in text


def test_mapped_csv_codes_and_statuses_are_validated(tmp_path: Path) -> None:
    text = (
        "t,psp,amt,ccy,net,res,rc\n1,a,100,EUR,visa,approved,00\n"
        "2,a,100,EUR,visa,maybe,\n3,a,100,EUR,visa,declined,X9\n"
    )
    mapping = {"time": "t", "acquirer": "psp", "amount": "amt", "currency": "ccy", "network": "net",
               "status": "res", "code": "rc"}  # fmt: skip
    problems = problems_of(tmp_path, "m.csv", text, "csv", mapping=mapping)
    # no code and a status nobody knows (line 3), and a code nobody knows (line 4): one line
    assert problems == [
        f"{tmp_path / 'm.csv'}: line 3: rc: not an ISO 8583 response code routelab knows "
        "(e.g. 00, 05, 51, 96) (got '') (2 rows in all)"
    ]


def test_acquirer_names_are_made_valid_and_a_missing_one_is_a_problem(tmp_path: Path) -> None:
    mapping = {"time": "t", "acquirer": "psp", "amount": "amt", "currency": "ccy",
               "network": "net", "code": "rc"}  # fmt: skip
    good = tmp_path / "g.csv"
    good.write_text("t,psp,amt,ccy,net,rc\n1,Adyen EU,100,EUR,visa,00\n2,9pay,100,EUR,visa,05\n")
    attempts, _ = load_exports([good], "csv", mapping=mapping)
    assert sorted(attempts.acquirer.counts()) == ["acq_9pay", "adyen_eu"]
    text = "t,psp,amt,ccy,net,rc\n1,a,100,EUR,visa,00\n2,,100,EUR,visa,05\n"
    problems = problems_of(tmp_path, "m.csv", text, "csv", mapping=mapping)
    assert problems == [f"{tmp_path / 'm.csv'}: line 3: acquirer: no acquirer (got '')"]


def test_unknown_format_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown format"):
        load_exports([tmp_path / "x"], "paypal")
    assert problems_of(tmp_path, "e.csv", "", "stripe") == [
        f"{tmp_path / 'e.csv'}: empty file: no header line"
    ]
    problems = problems_of(tmp_path, "h.csv", STRIPE_HEADER, "stripe")
    assert problems == [f"{tmp_path / 'h.csv'}: no data rows"]


def test_the_command_fits_a_sample_and_writes_both_files(tmp_path: Path) -> None:
    out = tmp_path / "fitted.yaml"
    args = ["calibrate", *map(str, SAMPLES["csv"][0]), "--format", "csv", "--out", str(out),
            "--merchant-country", "DE", "--bucket-s", "30"]  # fmt: skip
    for item in MAPPING:
        args += ["--map", item]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.exists() and (tmp_path / "calibration.html").exists()
    check = CliRunner().invoke(app, ["validate", str(out)])
    assert check.exit_code == 0 and "2 acquirers" in check.output


def test_a_bad_export_exits_2_with_one_line_per_problem_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        STRIPE_HEADER + "ch_1,2025-03-03 10:00:00,1O.00,eur,Paid,Visa,,0.4\n", encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "routelab.cli", "calibrate", str(bad), "--format", "stripe",
         "--out", str(tmp_path / "s.yaml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [f"error: {bad}: line 2: Amount: not a number (got '1O.00')"]
    assert not (tmp_path / "s.yaml").exists()
