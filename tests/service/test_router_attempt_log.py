"""The router's attempt log: every attempt of every payment, as the payment API said it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc

from mock_acquirers.app import create_app as create_mock
from results.attempt_log import COLUMN_NAMES, read_attempt_log
from router.app import RouterSettings, create_app
from router.transport import AsgiTransport
from scenarios.loader import parse_scenario

TOKEN = "attempt-log-token"
SCENARIO = """
name: attempt_log
merchant: {country: DE}
acquirers:
  - {name: acq_a, dialect: psp, latency: {dist: fixed, ms: 5}, approval: {base: 0.5},
     decline_codes: {"05": 1}, fees: {default: {pct_bps: 100, fixed: 10}}}
  - {name: acq_b, dialect: iso8583, latency: {dist: fixed, ms: 5}, approval: {base: 1.0},
     fees: {default: {pct_bps: 200}}}
traffic:
  duration_s: 60
  arrival: {profile: constant, rate_per_s: 10}
  mix: {networks: {visa: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
  issuer_declines: {base: {}}
policies:
  - name: split
    strategy: {type: weighted, weights: {acq_a: 3, acq_b: 1}}
    default: [acq_a, acq_b]
    retry: {max_attempts: 2, attempt_timeout_ms: 500, budget_ms: 2000}
"""
CARD = {"bin": "424242", "last4": "4242", "network": "visa", "type": "credit",
        "issuer_country": "DE"}  # fmt: skip


def run(path: Path, payments: int) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        scenario = parse_scenario(SCENARIO)
        mock = create_mock(scenario, TOKEN)
        transport = AsgiTransport(mock)
        app = create_app(
            scenario,
            TOKEN,
            transport=transport,
            settings=RouterSettings(attempt_log_path=str(path)),
        )
        service = app.state.service
        await service.start()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://router")
        answers = []
        try:
            for k in range(payments):
                body = {"amount": 1000, "currency": "EUR", "card": CARD,
                        "merchant_reference": f"order-{k}"}  # fmt: skip
                response = await client.post(
                    "/v1/payments", json=body, headers={"Idempotency-Key": f"key-{k}"}
                )
                assert response.status_code == 200, response.text
                answers.append(response.json())
            metrics = (await client.get("/metrics")).text
        finally:
            await client.aclose()
            await service.stop()
            await transport.close()
        assert 'routelab_router_attempt_log_rows_total{result="dropped"} 0.0' in metrics
        return answers

    return asyncio.run(main())


def test_every_attempt_is_logged_as_answered(tmp_path: Path) -> None:
    path = tmp_path / "attempts.parquet"
    answers = run(path, 60)
    table = read_attempt_log(path)
    assert table.column_names == list(COLUMN_NAMES)
    assert set(pc.unique(table["engine"]).to_pylist()) == {"live"}
    rows = table.to_pylist()
    by_payment: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_payment.setdefault(row["payment_id"], []).append(row)
    assert len(by_payment) == len(answers)
    for answer in answers:
        logged = sorted(by_payment[answer["payment_id"]], key=lambda r: r["attempt"])
        assert [(r["acquirer"], r["code"], r["outcome"]) for r in logged] == [
            (a["acquirer"], a["code"], a["class"]) for a in answer["attempts"]
        ]
        assert {r["final_status"] for r in logged} == {answer["status"]}
        first = logged[0]
        # the weighted split's exact probability of its first choice; none for cascades
        assert first["propensity"] == (0.75 if first["acquirer"] == "acq_a" else 0.25)
        assert all(r["propensity"] is None for r in logged[1:])
        assert first["rule"] == "default" and first["candidates"][0] == first["acquirer"]
        # fees from the scenario: acq_b's approval costs 2 % of 10.00, a decline nothing
        for r in logged:
            expected = 20.0 if r["acquirer"] == "acq_b" else (20.0 if r["code"] == "00" else 0.0)
            assert r["fee"] == expected, r
    times = [r["t_s"] for r in rows]
    assert min(times) >= 0.0
    assert table.num_rows == sum(len(a["attempts"]) for a in answers)
