"""Test-only: an attempt log of a known scenario, written out in every export format.

:func:`simulated_attempt_log` is the simulator's own attempt log of a run.

The export writers turn an attempt log (Parquet, :mod:`results.attempt_log`) into the
columns each source publishes, so the importers can be tested on every format.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc

from results.attempt_log import AttemptLogWriter, read_attempt_log
from scenarios.schema import Scenario
from simulator import simulate

#: acquirer_outage made identifiable from an export: decline mixes of acquirer-side codes
#: only, the card's own declines of card-side codes only (see the round-trip test)
IDENTIFIABLE = {
    "acquirers[acq_a].decline_codes": {"05": 0.9, "19": 0.1},
    "acquirers[acq_b].decline_codes": {"05": 1.0},
    "acquirers[acq_c].decline_codes": {"05": 0.8, "19": 0.2},
    "traffic.issuer_declines.base": {
        "51": 0.045,
        "54": 0.004,
        "14": 0.001,
        "41": 0.0008,
        "61": 0.003,
    },
}
#: the committed samples under tests/data: 160 s of the same traffic, no incident
SAMPLE = {
    **IDENTIFIABLE,
    "traffic.duration_s": 160.0,
    "warmup_s": 0.0,
    "acquirers[acq_a].incidents": [],
}
SAMPLE_SEED = 5

EPOCH = datetime(2025, 3, 3, tzinfo=UTC)  # scenario time 0 in the exports (a Monday, 00:00 UTC)


def simulated_attempt_log(scenario: Scenario, policy: str, seed: int, path: Path) -> Path:
    """The attempt log of one simulated replication of ``scenario`` (the simulator's own
    log, as ``routelab simulate --attempt-log`` writes it)."""
    simulate(scenario, policy, seed=seed, replications=1, attempt_log=path)
    return path


# --- export writers ------------------------------------------------------------------------

STRIPE_REASONS = {
    "05": "do_not_honor",
    "19": "reenter_transaction",
    "51": "insufficient_funds",
    "54": "expired_card",
    "14": "incorrect_number",
    "41": "lost_card",
    "43": "stolen_card",
    "57": "transaction_not_allowed",
    "59": "fraudulent",
    "61": "card_velocity_exceeded",
    "91": "issuer_not_available",
    "96": "processing_error",
    "68": "timeout",
}
STRIPE_BRANDS = {"visa": "Visa", "mastercard": "MasterCard", "amex": "American Express"}
ADYEN_REASONS = {
    "05": "Refused",
    "19": "Refused",
    "51": "Not enough balance",
    "54": "Expired Card",
    "14": "Invalid Card Number",
    "41": "Blocked Card",
    "61": "Withdrawal amount exceeded",
    "91": "Issuer Unavailable",
    "96": "Acquirer Error",
    "68": "Timeout",
}
ADYEN_METHODS = {"visa": "visa", "mastercard": "mc", "amex": "amex"}


def _rows(log: Path) -> list[dict[str, object]]:
    table = read_attempt_log(log)
    return table.drop_columns(["candidates"]).to_pylist()


def _when(t_s: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    stamp = EPOCH + timedelta(seconds=t_s)
    if fmt.endswith(".%f"):
        return stamp.strftime(fmt)
    return stamp.strftime(fmt)


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _major(minor: float) -> str:
    return f"{minor / 100:.2f}"


def write_stripe(log: Path, out_dir: Path) -> list[Path]:
    """One Stripe Payments export ("All columns" subset) per acquirer of the log."""
    header = [
        "id", "Created date (UTC)", "Amount", "Amount Refunded", "Currency", "Captured",
        "Converted Amount", "Decline Reason", "Fee", "Status", "Seller Message", "Card Brand",
        "Card Funding", "Card Issue Country", "Card Fingerprint", "PaymentIntent ID",
    ]  # fmt: skip
    by_acquirer: dict[str, list[list[object]]] = {}
    for k, r in enumerate(_rows(log)):
        approved = r["code"] == "00"
        status = "Paid" if approved else "Failed"
        by_acquirer.setdefault(str(r["acquirer"]), []).append([
            f"ch_{k:08d}", _when(float(r["t_s"])), _major(float(r["amount"])), "0.00",
            str(r["currency"]).lower(), "true" if approved else "false", _major(float(r["amount"])),
            "" if approved else STRIPE_REASONS[str(r["code"])], f"{float(r['fee']) / 100:.4f}",
            status, "Payment complete." if approved else "The bank did not return more details.",
            STRIPE_BRANDS[str(r["network"])], r["card_type"], r["issuer_country"], f"fp_{k}",
            f"pi_{r['payment_id']}",
        ])  # fmt: skip
    return [
        _write(out_dir / f"stripe_{name}.csv", header, rows)
        for name, rows in sorted(by_acquirer.items())
    ]


def write_adyen(log: Path, out_dir: Path) -> list[Path]:
    """One Adyen Received Payment Details report per acquirer of the log."""
    header = [
        "Company Account", "Merchant Account", "Psp Reference", "Merchant Reference",
        "Payment Method", "Creation Date", "TimeZone", "Currency", "Amount", "Type",
        "Risk Scoring", "Shopper Interaction", "Shopper Country", "Issuer Name", "Issuer Country",
        "Acquirer Response", "Raw Acquirer Response", "Payment Method Variant",
    ]  # fmt: skip
    by_acquirer: dict[str, list[list[object]]] = {}
    for k, r in enumerate(_rows(log)):
        code = str(r["code"])
        kind = "Authorised" if code == "00" else "Error" if code in ("96", "68") else "Refused"
        # local time in Amsterdam (CET, UTC+1 in March)
        local = float(r["t_s"]) + 3600.0
        by_acquirer.setdefault(str(r["acquirer"]), []).append([
            "Company", f"Merchant_{r['acquirer']}", f"{8800000000000000 + k}", r["payment_id"],
            ADYEN_METHODS[str(r["network"])], _when(local), "Europe/Amsterdam", r["currency"],
            _major(float(r["amount"])), kind, "0", "Ecommerce", r["issuer_country"], "Bank",
            r["issuer_country"], "APPROVED" if code == "00" else ADYEN_REASONS[code],
            "" if code in ("00", "68") else f"{code} : {ADYEN_REASONS[code]}",
            f"{ADYEN_METHODS[str(r['network'])]}{r['card_type']}",
        ])  # fmt: skip
    return [
        _write(out_dir / f"adyen_{name}.csv", header, rows)
        for name, rows in sorted(by_acquirer.items())
    ]


def write_hyperswitch(log: Path, out_dir: Path) -> tuple[Path, Path]:
    """A Hyperswitch ``payment_attempt`` dump and its ``connector_events``."""
    attempts_header = [
        "payment_id", "merchant_id", "attempt_id", "status", "amount", "currency", "connector",
        "error_code", "error_message", "error_reason", "unified_code", "unified_message",
        "issuer_error_code", "payment_method", "payment_method_type", "authentication_type",
        "card_network", "created_at", "modified_at", "routing_approach", "net_amount",
        "card_issuing_country",
    ]  # fmt: skip
    events_header = ["payment_id", "connector_name", "flow", "status_code", "created_at", "latency"]
    attempts, events = [], []
    for r in _rows(log):
        code = str(r["code"])
        approved = code == "00"
        at = _when(float(r["t_s"]), "%Y-%m-%d %H:%M:%S.%f")
        done = _when(float(r["t_s"]) + float(r["latency_ms"]) / 1000.0, "%Y-%m-%d %H:%M:%S.%f")
        unified = "" if approved else "UE_3000" if code in ("96", "91", "68") else "UE_9000"
        attempts.append([
            r["payment_id"], "merchant_1", f"{r['payment_id']}_{r['attempt']}",
            "charged" if approved else "failure", r["amount"], r["currency"], r["acquirer"],
            "" if approved else ("timeout" if code == "68" else code), "", "", unified, "",
            "" if approved or code == "68" else code, "card", r["card_type"], "no_three_ds",
            STRIPE_BRANDS[str(r["network"])], at, done, "priority", r["amount"],
            r["issuer_country"],
        ])  # fmt: skip
        events.append([
            r["payment_id"], r["acquirer"], "Authorize", 200, at, f"{float(r['latency_ms']):.3f}",
        ])  # fmt: skip
    return (
        _write(out_dir / "hyperswitch_payment_attempt.csv", attempts_header, attempts),
        _write(out_dir / "hyperswitch_connector_events.csv", events_header, events),
    )


MAPPED_COLUMNS = {
    "time": "When",
    "payment_id": "Order",
    "attempt": "Try",
    "acquirer": "PSP",
    "amount": "Amount (cents)",
    "currency": "Ccy",
    "network": "Scheme",
    "card_type": "Funding",
    "issuer_country": "BIN country",
    "status": "Result",
    "code": "Response code",
    "latency_ms": "Latency",
    "fee": "Fee (cents)",
}


def write_mapped(log: Path, out_dir: Path) -> Path:
    """A CSV of a merchant's own making, read with ``--map`` (:data:`MAPPED_COLUMNS`)."""
    header = list(MAPPED_COLUMNS.values())
    rows = []
    for r in _rows(log):
        code = str(r["code"])
        result = {"00": "approved", "68": "timeout", "96": "error", "91": "error"}.get(
            code, "declined"
        )
        rows.append([
            _when(float(r["t_s"]), "%Y-%m-%dT%H:%M:%S.%f") + "Z", r["payment_id"], r["attempt"],
            str(r["acquirer"]).upper(), r["amount"], r["currency"], str(r["network"]).upper(),
            r["card_type"], r["issuer_country"], result, code, f"{float(r['latency_ms']):.3f}",
            f"{float(r['fee']):.4f}",
        ])  # fmt: skip
    return _write(out_dir / "merchant_attempts.csv", header, rows)


def mapping_options() -> list[str]:
    return [f"{field}={column}" for field, column in MAPPED_COLUMNS.items()]


def write_samples(out_dir: Path) -> list[Path]:
    """The sample exports committed under tests/data (regenerate with this function)."""
    from scenarios.loader import load_scenario
    from scenarios.overrides import apply

    out_dir.mkdir(parents=True, exist_ok=True)
    scenario = apply(load_scenario("acquirer_outage"), SAMPLE, "acquirer_outage (sample)")
    log = simulated_attempt_log(
        scenario, "priority", SAMPLE_SEED, out_dir / "routelab_attempts.parquet"
    )
    csv_log = out_dir / "routelab_attempts.csv"
    with AttemptLogWriter(csv_log) as writer:
        for row in read_attempt_log(log).to_pylist():
            writer.append(*[row[c] for c in COLUMN_ORDER], replication=int(row["replication"]))
    return [
        log,
        csv_log,
        *write_stripe(log, out_dir),
        *write_adyen(log, out_dir),
        *write_hyperswitch(log, out_dir),
        write_mapped(log, out_dir),
    ]


COLUMN_ORDER = (
    "t_s", "payment_id", "attempt", "network", "card_type", "bin", "issuer_country", "currency",
    "amount", "cross_border", "rule", "candidates", "acquirer", "propensity", "outcome",
    "raw_code", "code", "latency_ms", "fee", "final_status",
)  # fmt: skip


def log_acquirers(log: Path) -> list[str]:
    return sorted(set(pc.unique(read_attempt_log(log).column("acquirer")).to_pylist()))
