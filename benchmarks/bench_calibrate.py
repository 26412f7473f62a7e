"""Calibration benchmark: ``routelab calibrate`` on 1,000,000 attempt rows.

It writes a synthetic day of traffic as attempt rows (vectorised numpy, so making the
data costs seconds): three acquirers with different approval by network, card type and
cross-border, the card's own declines, technical errors and timeouts, lognormal
latencies, fees by network, cascades to the next acquirer, and a 30-minute incident.
Then, in a fresh interpreter per export (so the peak RSS is that run's own, read by the
parent from ``os.wait4``), it calibrates:

- the routelab attempt log (Parquet), and
- the same rows as a merchant CSV read with ``--format csv --map ...``,

each end to end as the command does it: import, fit, validate, write the scenario and
calibration.html. It prints rows per second and peak RSS for both, the targets with
PASS/FAIL, and ends with exactly one line holding a JSON object. Run from the
repository root::

    .venv/bin/python benchmarks/bench_calibrate.py            # 1,000,000 rows
    .venv/bin/python benchmarks/bench_calibrate.py --quick    # 100,000 rows, smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from _common import (
    Target,
    emit_json,
    environment,
    fmt,
    print_figures,
    print_targets,
    progress,
    run_child,
)

from results.attempt_log import SCHEMA
from scenarios.taxonomy import classify

TARGET_SECONDS = 60.0
TARGET_RSS_MB = 1024.0
FULL_ROWS = 1_000_000
QUICK_ROWS = 100_000
DAY_S = 86_400.0

ACQUIRERS = ["acq_a", "acq_b", "acq_c"]
NETWORKS, NETWORK_P = ["visa", "mastercard", "amex"], [0.58, 0.36, 0.06]
COUNTRIES, COUNTRY_P = ["DE", "FR", "NL", "GB", "US"], [0.62, 0.08, 0.06, 0.1, 0.14]
BASE_APPROVAL = np.array([0.955, 0.95, 0.94])
CROSS_BORDER_DELTA = np.array([-0.04, -0.07, 0.01])
ISSUER_CODES, ISSUER_P = ["51", "54", "14", "41"], [0.045, 0.004, 0.001, 0.001]
PCT_BPS = np.array([110.0, 95.0, 150.0])
FIXED = np.array([10.0, 8.0, 12.0])
MEDIAN_MS = np.array([280.0, 190.0, 420.0])
MAPPING = {
    "time": "t_s",
    "payment_id": "payment_id",
    "attempt": "attempt",
    "acquirer": "acquirer",
    "amount": "amount",
    "currency": "currency",
    "network": "network",
    "card_type": "card_type",
    "issuer_country": "issuer_country",
    "code": "code",
    "latency_ms": "latency_ms",
    "fee": "fee",
}


def synthetic_rows(rows: int, seed: int = 1) -> pa.Table:
    """About ``rows`` attempt rows over one day (first attempts plus their cascades)."""
    rng = np.random.default_rng(seed)
    payments = int(rows / 1.06)
    t = np.sort(rng.uniform(0.0, DAY_S, payments))
    network = rng.choice(len(NETWORKS), payments, p=NETWORK_P)
    country = rng.choice(len(COUNTRIES), payments, p=COUNTRY_P)
    debit = rng.random(payments) < 0.55
    cross = country != 0
    amount = np.maximum(1, np.rint(rng.lognormal(np.log(4500), 0.9, payments))).astype(np.int64)
    issuer_u = rng.random(payments)
    issuer_cdf = np.cumsum(ISSUER_P)
    issuer = np.searchsorted(issuer_cdf, issuer_u, side="right")  # len(codes): no decline
    first = rng.choice(3, payments, p=[0.7, 0.2, 0.1])

    def attempt(
        acq: np.ndarray, at: np.ndarray, idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = acq.size
        approval = BASE_APPROVAL[acq] + CROSS_BORDER_DELTA[acq] * cross[idx]
        approval = approval + np.where(network[idx] == 2, -0.03, 0.0)
        in_incident = (acq == 0) & (at >= 36_000) & (at < 37_800)
        approval = np.where(in_incident, approval - 0.4, approval)
        error = np.where(in_incident, 0.1, 0.003)
        u = rng.random(n)
        code = np.full(n, "05", dtype=object)
        code[u < error + 0.0005] = "68"
        code[u < error] = "96"
        ok = u >= error + 0.0005
        issuer_declined = ok & (issuer[idx] < len(ISSUER_CODES))
        code[issuer_declined] = np.array(ISSUER_CODES, dtype=object)[issuer[idx][issuer_declined]]
        approved = ok & ~issuer_declined & (rng.random(n) < approval)
        code[approved] = "00"
        latency = MEDIAN_MS[acq] * np.exp(0.35 * rng.standard_normal(n))
        latency[code == "68"] = 4000.0
        fee = np.where(approved, PCT_BPS[acq] * amount[idx] / 10_000 + FIXED[acq], 0.0)
        return code, latency, fee

    code1, lat1, fee1 = attempt(first, t, np.arange(payments))
    cascade = np.flatnonzero(np.isin(code1, ["05", "96", "68"]))
    acq2 = (first[cascade] + 1) % 3
    t2 = t[cascade] + lat1[cascade] / 1000.0
    code2, lat2, fee2 = attempt(acq2, t2, cascade)
    both = np.concatenate([np.arange(payments), cascade])
    code = np.concatenate([code1, code2])
    final = np.where(code == "00", "approved", "declined")
    outcome = np.array([classify(c).outcome.value for c in code.tolist()], dtype=object)
    acquirer = np.concatenate([first, acq2])
    candidates = [list(ACQUIRERS)] * both.size
    table = pa.table(
        {
            "t_s": np.concatenate([t, t2]),
            "payment_id": pa.array(np.char.add("pay_", both.astype(str))),
            "attempt": np.concatenate([np.ones(payments), np.full(cascade.size, 2)]).astype(
                np.int16
            ),
            "network": np.array(NETWORKS, dtype=object)[network[both]],
            "card_type": np.where(debit[both], "debit", "credit"),
            "bin": np.full(both.size, "424242"),
            "issuer_country": np.array(COUNTRIES, dtype=object)[country[both]],
            "currency": np.full(both.size, "EUR"),
            "amount": amount[both],
            "cross_border": cross[both],
            "rule": np.full(both.size, "default"),
            "candidates": candidates,
            "acquirer": np.array(ACQUIRERS, dtype=object)[acquirer],
            "propensity": np.where(np.arange(both.size) < payments, 1.0, np.nan),
            "outcome": outcome,
            "raw_code": code,
            "code": code,
            "latency_ms": np.concatenate([lat1, lat2]),
            "fee": np.concatenate([fee1, fee2]),
            "final_status": final,
            "engine": np.full(both.size, "simulator"),
            "replication": np.zeros(both.size, dtype=np.int32),
        }
    )
    return table.cast(SCHEMA)


def write_data(out: Path, rows: int) -> None:
    table = synthetic_rows(rows)
    pq.write_table(table, out / "attempts.parquet", compression="zstd")
    pacsv.write_csv(table.drop_columns(["candidates"]), out / "attempts.csv")
    print(json.dumps({"rows": table.num_rows}))


def child(path: Path, fmt_name: str, out: Path) -> None:
    """Calibrate one export as ``routelab calibrate`` does; print one JSON line."""
    started = time.perf_counter()
    from calibration import calibrate, load_exports, write_report

    attempts, reports = load_exports(
        [path], fmt_name, merchant_country="DE", mapping=MAPPING if fmt_name == "csv" else None
    )
    loaded = time.perf_counter()
    result = calibrate(attempts, reports=reports, bucket_s=60.0)
    fitted = time.perf_counter()
    result.write(out / "scenario.yaml")
    write_report(result, out / "calibration.html")
    done = time.perf_counter()
    incidents = [(a.name, i.start_s, i.end_s) for a in result.acquirers for i in a.incidents]
    print(
        json.dumps(
            {
                "rows": len(attempts),
                "seconds": done - started,
                "import_s": loaded - started,
                "fit_s": fitted - loaded,
                "write_s": done - fitted,
                "incidents": incidents,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows: a smoke test")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    parser.add_argument(
        "--child", nargs=3, metavar=("PATH", "FORMAT", "OUT"), help=argparse.SUPPRESS
    )
    parser.add_argument("--write-data", nargs=2, metavar=("DIR", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], Path(args.child[2]))
        return
    if args.write_data:
        write_data(Path(args.write_data[0]), int(args.write_data[1]))
        return
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    env = environment()
    with tempfile.TemporaryDirectory(prefix="bench_calibrate_") as tmp:
        work = Path(tmp)
        progress(f"writing {rows:,} synthetic attempt rows")
        # in a child of its own: a parent holding the rows would pass its size on to the
        # children it forks, and their peak RSS would be the parent's
        made = run_child([sys.executable, __file__, "--write-data", str(work), str(rows)], 600.0)
        if made.returncode != 0:
            raise SystemExit(f"writing the data failed with exit code {made.returncode}")
        log, csv_path = work / "attempts.parquet", work / "attempts.csv"
        results = {}
        for name, path in (("routelab", log), ("csv", csv_path)):
            progress(f"calibrating the {name} export in a fresh interpreter")
            out = work / f"out_{name}"
            out.mkdir()
            run = run_child([sys.executable, __file__, "--child", str(path), name, str(out)], 900.0)
            if run.returncode != 0:
                raise SystemExit(f"the {name} child failed with exit code {run.returncode}")
            figures = run.last_json()
            results[name] = (run, figures)
    rows_done = results["routelab"][1]["rows"]
    table_rows = []
    for name, (run, figures) in results.items():
        rate = figures["rows"] / figures["seconds"]
        table_rows += [
            (f"{name}: rows", fmt(figures["rows"]), "attempts calibrated"),
            (
                f"{name}: seconds",
                fmt(figures["seconds"], 2),
                f"import {figures['import_s']:.1f} s, "
                f"fit {figures['fit_s']:.1f} s, write {figures['write_s']:.1f} s",
            ),
            (f"{name}: rows/s", fmt(rate), "end to end, in the child"),
            (f"{name}: peak RSS", fmt(run.peak_rss_mb, 1) + " MB", "the child's own (os.wait4)"),
            (
                f"{name}: incidents",
                str(figures["incidents"]),
                "the synthetic one: acq_a 36000-37800 s",
            ),
        ]
    print_figures(f"routelab calibrate on {rows_done:,} attempt rows", table_rows)
    targets = []
    for name, (run, figures) in results.items():
        targets.append(Target(f"{name}: seconds", figures["seconds"], TARGET_SECONDS, "<=", "s"))
        targets.append(Target(f"{name}: peak RSS", run.peak_rss_mb, TARGET_RSS_MB, "<=", "MB"))
    print_targets(targets)
    figures_json: dict[str, object] = {"benchmark": "calibrate", "rows": rows_done, **env}
    for name, (run, figures) in results.items():
        figures_json[f"{name}_seconds"] = round(figures["seconds"], 3)
        figures_json[f"{name}_rows_per_s"] = round(figures["rows"] / figures["seconds"], 1)
        figures_json[f"{name}_peak_rss_mb"] = round(run.peak_rss_mb, 1)
    figures_json["targets_passed"] = all(t.passed for t in targets)
    emit_json(figures_json)
    if args.check and not figures_json["targets_passed"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
