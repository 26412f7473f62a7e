"""Every learning strategy in the live router, in-process: router app and mock acquirer app
over an ASGI transport, no sockets.

Both acquirers approve everything until the test injects an incident at the mock that
makes psp_a decline every payment with do-not-honour (05, the acquirer's fault); the
router cascades those payments to iso_b. A strategy that learns in the router stops
sending first attempts to psp_a, and its scores say why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from mock_acquirers.app import create_app as create_mock
from router.app import RouterSettings, create_app
from router.transport import AsgiTransport
from scenarios.loader import parse_scenario

TOKEN = "strategies-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAST = "latency: {dist: fixed, ms: 2}, approval: {base: 1.0}, decline_codes: {'05': 1}"
RETRY = "retry: {max_attempts: 2, attempt_timeout_ms: 500, budget_ms: 3000}"
STRATEGIES = {
    "sr_window": "{type: sr_window, window: 20}",
    "thompson": "{type: thompson, memory: {window: 200}}",
    "ucb": "{type: ucb, memory: {discount: 0.99}}",
    "cost_aware": "{type: cost_aware, objective: auth_rate_minus_cost, lambda_pp_per_bps: 0.01}",
    "hierarchical": "{type: hierarchical, min_observations: 10}",
    "elimination": "{type: elimination, inner: {type: priority}}",
}
SCENARIO = f"""
name: live-strategies
merchant: {{country: DE}}
acquirers:
  - {{name: psp_a, dialect: psp, {FAST}, fees: {{default: {{pct_bps: 100}}}}}}
  - {{name: iso_b, dialect: iso8583, {FAST}, fees: {{default: {{pct_bps: 120}}}}}}
traffic:
  duration_s: 600
  arrival: {{profile: constant, rate_per_s: 10}}
  mix: {{networks: {{visa: 1}}, issuer_countries: {{DE: 1}}, currencies: {{EUR: 1}},
        amount: {{dist: fixed, value: 1000}}}}
  issuer_declines: {{base: {{}}}}
policies:
""" + "".join(
    f"  - {{name: {name}, strategy: {strategy}, default: [psp_a, iso_b], {RETRY}}}\n"
    for name, strategy in STRATEGIES.items()
)
CARD = {
    "bin": "424242",
    "last4": "4242",
    "network": "visa",
    "type": "credit",
    "issuer_country": "DE",
}


class LiveRouter:
    """The router app for one policy, wired to an in-process mock acquirer app."""

    def __init__(self, policy: str) -> None:
        scenario = parse_scenario(SCENARIO)
        self.mock = create_mock(scenario, TOKEN)
        self.transport = AsgiTransport(self.mock)
        self.app = create_app(
            scenario,
            TOKEN,
            transport=self.transport,
            settings=RouterSettings(policy=policy, late_check_horizon_s=5.0),
        )
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.app), base_url="http://router"
        )
        self.mock_admin = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.mock), base_url="http://mock", headers=AUTH
        )
        self.paid = 0

    async def first_acquirers(self, n: int) -> list[str]:
        """Pay ``n`` payments one after another; the acquirer each first went to."""
        firsts = []
        for _ in range(n):
            self.paid += 1
            response = await self.client.post(
                "/v1/payments",
                json={
                    "amount": 1000,
                    "currency": "EUR",
                    "card": CARD,
                    "merchant_reference": f"order-{self.paid}",
                },
                headers={"Idempotency-Key": f"key-{self.paid}"},
            )
            body = response.json()
            assert response.status_code == 200 and body["status"] == "approved", body
            firsts.append(body["attempts"][0]["acquirer"])
        return firsts

    async def psp_a_declines_everything(self) -> None:
        response = await self.mock_admin.post(
            "/admin/acquirers/psp_a/incidents", json={"name": "burst", "approval_delta": -1.0}
        )
        assert response.status_code == 201

    async def scores(self) -> dict[tuple[str, str], float]:
        """The strategy's scores as the router's metrics show them: (segment, acquirer)."""
        scores = {}
        for line in (await self.client.get("/metrics")).text.splitlines():
            if line.startswith("routelab_router_strategy_score{"):
                labels, value = line.split("{", 1)[1].rsplit("} ", 1)
                found = dict(part.split("=", 1) for part in labels.split(","))
                scores[found["segment"].strip('"'), found["acquirer"].strip('"')] = float(value)
        return scores

    async def close(self) -> None:
        await self.client.aclose()
        await self.mock_admin.aclose()
        await self.app.state.service.reversals.close()
        await self.transport.close()
        for acquirer in self.mock.acquirers.values():
            acquirer.cancel_pending()


def run(policy: str, test: Callable[[LiveRouter], Awaitable[None]]) -> None:
    async def main() -> None:
        router = LiveRouter(policy)
        try:
            await test(router)
        finally:
            await router.close()

    asyncio.run(main())


@pytest.mark.parametrize("policy", list(STRATEGIES))
def test_after_a_burst_of_declines_the_strategy_sends_fewer_first_attempts_there(
    policy: str,
) -> None:
    async def test(router: LiveRouter) -> None:
        before = await router.first_acquirers(30)
        await router.psp_a_declines_everything()
        await router.first_acquirers(30)  # the burst: psp_a declines, iso_b approves
        after = await router.first_acquirers(40)
        assert before.count("psp_a") >= 3, before  # it had its share before
        assert after.count("psp_a") <= 6, after  # exploration and probes only
        scores = await router.scores()
        if policy == "elimination":
            assert scores["eliminated", "psp_a"] == 1.0
            return
        # every segment that scores both acquirers puts psp_a below iso_b
        shared = [segment for segment, acquirer in scores if acquirer == "psp_a"]
        assert shared and all(scores[s, "psp_a"] < scores[s, "iso_b"] for s in shared), scores

    run(policy, test)
