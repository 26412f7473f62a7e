"""The simulator's attempt log: one row per attempt, complete, and it changes nothing."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from results.attempt_log import read_attempt_log
from scenarios.loader import load_scenario
from simulator import simulate

FIGURES_ONLY = {"wall_seconds", "sim_payments_per_second"}


def test_the_log_has_every_attempt_and_leaves_the_run_as_it_was(tmp_path: Path) -> None:
    scenario = load_scenario("acquirer_outage")
    plain = simulate(scenario, "sr_thompson", replications=2).summary
    path = tmp_path / "attempts.parquet"
    logged = simulate(scenario, "sr_thompson", replications=2, attempt_log=path).summary
    # estimating Thompson's propensities draws from a stream of its own: nothing moves
    assert plain.model_dump(exclude=FIGURES_ONLY) == logged.model_dump(exclude=FIGURES_ONLY)
    table = read_attempt_log(path)
    assert set(pc.unique(table["engine"]).to_pylist()) == {"simulator"}
    assert sorted(pc.unique(table["replication"]).to_pylist()) == [0, 1]
    # the figures count payments arriving after the warm-up: so does this, from the log
    firsts = table.filter(pc.equal(table["attempt"], 1))
    counted = firsts.filter(pc.greater_equal(firsts["t_s"], scenario.warmup_s))
    assert counted.num_rows == logged.payments
    ids = set(counted["payment_id"].to_pylist())
    rows = [
        r
        for r in table.select(["payment_id", "final_status"]).to_pylist()
        if r["payment_id"] in ids
    ]
    assert len(rows) == round(logged.attempts_per_payment * logged.payments)
    approved = {r["payment_id"] for r in rows if r["final_status"] == "approved"}
    assert len(approved) == logged.approved
    # first attempts carry the strategy's probability, estimated (Thompson) in (0, 1];
    # cascades carry none
    p = firsts["propensity"]
    assert p.null_count == 0
    assert 0.0 < pc.min(p).as_py() <= pc.max(p).as_py() <= 1.0
    later = table.filter(pc.greater(table["attempt"], 1))
    assert later.num_rows > 0 and later["propensity"].null_count == later.num_rows
    # a timed-out attempt is logged as the router saw it
    timeouts = table.filter(pc.equal(table["outcome"], "timeout"))
    assert timeouts.num_rows > 0
    assert set(timeouts["code"].to_pylist()) == {"68"}
    assert set(timeouts["raw_code"].to_pylist()) == {"TIMEOUT"}
