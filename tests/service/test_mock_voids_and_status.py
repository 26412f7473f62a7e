"""Voids and status inquiries at the mock acquirers: their answers take the scenario's
``void_latency`` / ``status_latency`` (default: the median authorisation latency), while
what they do is decided the moment they arrive.

In-process through httpx's ASGI transport. Durations are asserted from below only: a
slow machine stretches them, it cannot shorten them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import numpy as np
import pytest

from mock_acquirers.app import MockAcquirerService, create_app
from scenarios.loader import parse_scenario
from scenarios.schema import Scenario
from scenarios.streams import RunStreams, UniformStream

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VOID_S = 0.15
STATUS_S = 0.15
SLOW_VOID_S = 0.5  # long enough to look at the mock while the answer is still waiting

SCENARIO = f"""
name: voids-and-status
merchant: {{country: DE}}
acquirers:
  - name: iso_timed
    dialect: iso8583
    latency: {{dist: fixed, ms: 1}}
    void_latency: {{dist: fixed, ms: {VOID_S * 1000}}}
    status_latency: {{dist: fixed, ms: {STATUS_S * 1000}}}
    approval: {{base: 1.0}}
  - name: psp_timed
    dialect: psp
    latency: {{dist: fixed, ms: 1}}
    void_latency: {{dist: fixed, ms: {VOID_S * 1000}}}
    status_latency: {{dist: fixed, ms: {STATUS_S * 1000}}}
    approval: {{base: 1.0}}
  - name: iso_slow_void
    dialect: iso8583
    latency: {{dist: fixed, ms: 1}}
    void_latency: {{dist: fixed, ms: {SLOW_VOID_S * 1000}}}
    approval: {{base: 1.0}}
  - name: psp_slow_void
    dialect: psp
    latency: {{dist: fixed, ms: 1}}
    void_latency: {{dist: fixed, ms: {SLOW_VOID_S * 1000}}}
    approval: {{base: 1.0}}
  - name: psp_hang
    dialect: psp
    latency: {{dist: fixed, ms: 1}}
    timeout_rate: 1.0
    hang_ms: 300
    void_latency: {{dist: fixed, ms: {SLOW_VOID_S * 1000}}}
    approval: {{base: 1.0}}
  - name: iso_median
    dialect: iso8583
    latency: {{dist: fixed, ms: 120}}
    approval: {{base: 1.0}}
  - name: iso_busy
    dialect: iso8583
    latency: {{dist: fixed, ms: 300}}
    status_latency: {{dist: fixed, ms: 400}}
    approval: {{base: 1.0}}
  - name: psp_drawn
    dialect: psp
    latency: {{dist: fixed, ms: 0}}
    void_latency: {{dist: uniform, low_ms: 1, high_ms: 3}}
    status_latency: {{dist: exponential, mean_ms: 1}}
    approval: {{base: 0.5}}
    decline_codes: {{"05": 0.5, "51": 0.5}}
traffic:
  duration_s: 600
  arrival: {{profile: constant, rate_per_s: 10}}
  mix: {{networks: {{visa: 1}}, issuer_countries: {{DE: 1}}, currencies: {{EUR: 1}},
        amount: {{dist: fixed, value: 1000}}}}
  issuer_declines: {{base: {{}}}}
policies:
  - {{name: priority, strategy: {{type: priority}}, default: [iso_timed],
     retry: {{attempt_timeout_ms: 400, budget_ms: 1000}}}}
"""

Client = httpx.AsyncClient


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return parse_scenario(SCENARIO)


def run(scenario: Scenario, body: Callable[[Client, MockAcquirerService], Awaitable[None]]) -> None:
    app = create_app(scenario, TOKEN)

    async def main() -> None:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            await body(client, app)

    asyncio.run(main())


def card(reference: str) -> dict[str, Any]:
    return {
        "amount": 1250,
        "currency": "EUR",
        "pan_bin": "424242",
        "pan_last4": "4242",
        "network": "visa",
        "card_type": "debit",
        "issuer_country": "DE",
        "merchant_country": "DE",
        "merchant_reference": reference,
    }


async def pay(client: Client, acquirer: str, key: str) -> httpx.Response:
    """An authorisation in the acquirer's dialect (iso_* speak iso8583, psp_* psp)."""
    if acquirer.startswith("iso"):
        return await client.post(
            f"/{acquirer}/iso/authorise", json={"mti": "0100", "rrn": key, **card(f"o-{key}")}
        )
    data = card(f"o-{key}")
    body = {
        "reference": data["merchant_reference"],
        "amount": {"value": data["amount"], "currency": data["currency"]},
        "paymentMethod": {
            "brand": data["network"],
            "bin": data["pan_bin"],
            "last4": data["pan_last4"],
            "fundingSource": data["card_type"],
            "issuerCountry": data["issuer_country"],
        },
        "merchantCountry": data["merchant_country"],
    }
    return await client.post(
        f"/{acquirer}/psp/payments", json=body, headers={"Idempotency-Key": key}
    )


async def void(client: Client, acquirer: str, key: str) -> bool:
    """Void by the attempt's key; True when the acquirer says it is (or will be) voided."""
    if acquirer.startswith("iso"):
        answer = await client.post(f"/{acquirer}/iso/reversal", json={"mti": "0400", "rrn": key})
        assert answer.status_code == 200, answer.text
        return bool(answer.json()["reversed"])
    answer = await client.post(f"/{acquirer}/psp/cancels", json={"idempotencyKey": key})
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["cancelled"])


async def status(client: Client, acquirer: str, key: str) -> str:
    if acquirer.startswith("iso"):
        answer = await client.get(f"/{acquirer}/iso/transactions/{key}")
    else:
        answer = await client.get(f"/{acquirer}/psp/payments", params={"idempotencyKey": key})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


async def ledger(client: Client, acquirer: str) -> list[str]:
    answer = await client.get(f"/admin/acquirers/{acquirer}/ledger", headers=AUTH)
    return [e["status"] for e in answer.json()["entries"]]


@pytest.mark.parametrize("acquirer", ["iso_timed", "psp_timed"])
def test_void_and_status_answers_take_the_scenarios_latencies(
    scenario: Scenario, acquirer: str
) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        assert (await pay(client, acquirer, "k1")).status_code == 200
        started = time.monotonic()
        assert await status(client, acquirer, "k1") in ("approved", "Authorised")
        assert time.monotonic() - started >= STATUS_S
        started = time.monotonic()
        assert await void(client, acquirer, "k1") is True
        assert time.monotonic() - started >= VOID_S
        # unknown attempts are looked up as slowly: the latency is the acquirer's, not the
        # attempt's
        started = time.monotonic()
        assert await status(client, acquirer, "none") in ("not_found", "NotFound")
        assert await void(client, acquirer, "none") is False
        assert time.monotonic() - started >= STATUS_S + VOID_S

    run(scenario, body)


def test_without_a_void_or_status_latency_the_median_latency_is_taken(
    scenario: Scenario,
) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        await pay(client, "iso_median", "m1")
        started = time.monotonic()
        assert await status(client, "iso_median", "m1") == "approved"
        assert time.monotonic() - started >= 0.12
        started = time.monotonic()
        assert await void(client, "iso_median", "m1") is True
        assert time.monotonic() - started >= 0.12

    run(scenario, body)


@pytest.mark.parametrize("acquirer", ["iso_slow_void", "psp_slow_void"])
def test_a_void_reverses_the_approval_before_its_answer_is_sent(
    scenario: Scenario, acquirer: str
) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        await pay(client, acquirer, "v1")
        assert await ledger(client, acquirer) == ["approved"]
        started = time.monotonic()
        answer = asyncio.create_task(void(client, acquirer, "v1"))
        for _ in range(100):
            if await ledger(client, acquirer) == ["reversed"]:
                break
            await asyncio.sleep(0.002)
        assert await ledger(client, acquirer) == ["reversed"]
        assert not answer.done()  # the answer is still waiting out the void latency
        counters = (await client.get(f"/admin/acquirers/{acquirer}/counters", headers=AUTH)).json()
        assert counters["reversals"] == 1
        assert await answer is True
        assert time.monotonic() - started >= SLOW_VOID_S

    run(scenario, body)


def test_a_cancel_overtaking_an_authorisation_in_flight_holds_even_unanswered(
    scenario: Scenario,
) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        hung = asyncio.create_task(pay(client, "psp_hang", "h1"))
        for _ in range(100):
            if app.acquirers["psp_hang"].find("h1") is not None:
                break
            await asyncio.sleep(0.002)
        # the router timed out, sends the cancel, and gives up on its answer too
        cancel = asyncio.create_task(void(client, "psp_hang", "h1"))
        await asyncio.sleep(0.02)
        assert not cancel.done()
        cancel.cancel()
        answer = await hung  # the authorisation goes through after hang_ms...
        assert answer.json()["resultCode"] == "Authorised"
        assert await ledger(client, "psp_hang") == ["reversed"]  # ...and is voided at once
        # a second cancel is answered (after the void latency): the attempt is voided
        started = time.monotonic()
        assert await void(client, "psp_hang", "h1") is True
        assert time.monotonic() - started >= SLOW_VOID_S
        assert app.acquirers["psp_hang"].counts()["reversals"] == 1

    run(scenario, body)


def test_a_status_inquiry_reports_the_attempt_as_it_was_on_arrival(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        # authorisation 300 ms; the inquiry arrives while it is pending and answers
        # 400 ms later, after the attempt completed: it reports what it found
        authorisation = asyncio.create_task(pay(client, "iso_busy", "b1"))
        for _ in range(100):
            if app.acquirers["iso_busy"].find("b1") is not None:
                break
            await asyncio.sleep(0.002)
        assert await status(client, "iso_busy", "b1") == "pending"
        assert authorisation.done()
        assert (await authorisation).json()["response_code"] == "00"
        assert await status(client, "iso_busy", "b1") == "approved"

    run(scenario, body)


def test_drawn_latencies_come_from_streams_of_their_own(scenario: Scenario) -> None:
    """Voids and inquiries never shift the outcome or fault draws, nor each other."""

    async def outcomes(client: Client, with_voids: bool) -> list[str]:
        codes = []
        for i in range(40):
            answer = (await pay(client, "psp_drawn", f"d{i}")).json()
            codes.append(f"{answer['resultCode']}:{answer.get('refusalReasonCode')}")
            if with_voids:
                await void(client, "psp_drawn", f"d{i}")
                await status(client, "psp_drawn", f"d{i}")
        return codes

    plain: list[str] = []
    mixed: list[str] = []

    async def first(client: Client, app: MockAcquirerService) -> None:
        plain.extend(await outcomes(client, with_voids=False))

    async def second(client: Client, app: MockAcquirerService) -> None:
        mixed.extend(await outcomes(client, with_voids=True))

    run(scenario, first)
    run(scenario, second)
    assert plain == mixed
    assert len(set(plain)) > 1  # approvals and declines: the comparison has teeth

    app = create_app(scenario, TOKEN)
    acquirer = app.acquirers["psp_drawn"]
    index = scenario.acquirer_names.index("psp_drawn")
    generator = RunStreams.spawn(np.random.SeedSequence(scenario.seed), len(scenario.acquirers))
    # the fault stream is the generator's first child, as before voids had streams
    faults = UniformStream(generator.acquirers[index].spawn(1)[0])
    assert [acquirer.fault_stream.next() for _ in range(5)] == [faults.next() for _ in range(5)]
    voids = [acquirer.void_ms() for _ in range(200)]
    assert all(1.0 <= v <= 3.0 for v in voids) and len(set(voids)) > 100
    inquiries = [acquirer.status_ms() for _ in range(200)]
    assert all(s >= 0.0 for s in inquiries) and len(set(inquiries)) > 100
    app.reset()  # a reset replays the same latencies, inquiries in between or not
    interleaved = []
    for _ in range(200):
        interleaved.append(acquirer.void_ms())
        acquirer.status_ms()
    assert interleaved == voids
