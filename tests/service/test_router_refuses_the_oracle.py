"""The oracle needs the simulator's knowledge of the acquirers: a live router refuses it,
at start and as a hot swap, in one line naming the field, never with a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from mock_acquirers.app import create_app as create_mock
from router.app import RouterSettings, create_app
from router.server import main
from router.transport import AsgiTransport
from scenarios.loader import parse_scenario

TOKEN = "oracle-token"
SCENARIO = """
name: oracle_live
merchant: {country: DE}
acquirers:
  - {name: a, dialect: iso8583, latency: {dist: fixed, ms: 2}, approval: {base: 1.0}}
  - {name: b, dialect: psp, latency: {dist: fixed, ms: 2}, approval: {base: 1.0}}
traffic:
  duration_s: 60
  arrival: {profile: constant, rate_per_s: 1}
  mix: {networks: {visa: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
policies:
  - {name: priority, strategy: {type: priority}, default: [a, b]}
"""


def test_a_router_will_not_start_on_a_scenario_with_an_oracle_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        SCENARIO
        + "  - {name: best, strategy: {type: sticky, inner: {type: oracle}}, default: [a, b]}\n",
        "utf-8",
    )
    assert main(["--scenario", str(path), "--policy", "priority"]) == 2
    err = capsys.readouterr().err
    assert "policies[1].strategy.inner.type: 'oracle' runs in 'routelab simulate' only" in err
    assert "Traceback" not in err


def test_a_hot_swap_to_the_oracle_is_refused_and_the_old_policy_serves_on() -> None:
    async def main_() -> None:
        scenario = parse_scenario(SCENARIO)
        mock = create_mock(scenario, TOKEN)
        transport = AsgiTransport(mock)
        app = create_app(
            scenario, TOKEN, transport=transport, settings=RouterSettings(policy="priority")
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://router"
        ) as client:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            response = await client.put(
                "/admin/policy",
                json={"name": "best", "strategy": {"type": "oracle"}, "default": ["a", "b"]},
                headers=auth,
            )
            assert response.status_code == 422
            (problem,) = response.json()["problems"]
            assert problem["field"] == "strategy.type" and "simulate" in problem["problem"]
            current = await client.get("/admin/policy", headers=auth)
            assert current.json()["policy"]["name"] == "priority"
        await app.state.service.reversals.close()
        await transport.close()

    asyncio.run(main_())
