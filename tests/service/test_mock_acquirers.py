"""The mock acquirer service: both dialects, idempotency, ledger, admin API, faults, capacity.

In-process through httpx's ASGI transport, except where the fault lives in the socket
(reset, truncated, slow body): those run a real uvicorn server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mock_acquirers.acquirer import issuer_uniform
from mock_acquirers.app import MockAcquirerService, create_app
from mock_acquirers.behaviour import AcquirerBehaviour, IssuerModel
from mock_acquirers.dialects.base import AuthorisationRequest
from mock_acquirers.dialects.psp import PSP_REFUSALS, iso_code_from_psp, payment_answer
from mock_acquirers.server import BackgroundServer, parse_args
from mock_acquirers.state import Attempt, AttemptStore, CapacitySlots
from scenarios.loader import parse_scenario
from scenarios.sampler import Payment
from scenarios.schema import Scenario
from scenarios.taxonomy import CODES, OutcomeClass

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# Debit cards are never declined by the issuer (factor 0) so that acquirer behaviour can
# be tested on its own; credit cards carry the issuer's own declines.
SCENARIO = """
name: mock-test
merchant: {country: DE}
acquirers:
  - name: acq_iso
    dialect: iso8583
    latency: {dist: fixed, ms: 1}
    approval: {base: 1.0}
    decline_codes: {"05": 0.6, "91": 0.2, "N7": 0.2}
  - name: acq_psp
    dialect: psp
    latency: {dist: fixed, ms: 1}
    approval:
      base: 1.0
      effects: [{when: {cross_border: true}, delta: -1.0}]
    decline_codes: {"05": 0.5, "59": 0.25, "N7": 0.25}
  - name: acq_stat
    dialect: iso8583
    latency: {dist: fixed, ms: 0}
    approval: {base: 0.85}
    decline_codes: {"05": 1.0}
  - name: acq_slow
    dialect: iso8583
    latency: {dist: fixed, ms: 50}
    capacity: 1
    approval: {base: 1.0}
  - name: acq_hang
    dialect: psp
    latency: {dist: fixed, ms: 1}
    timeout_rate: 1.0
    hang_ms: 300
    approval: {base: 1.0}
  - name: acq_later
    dialect: iso8583
    latency: {dist: fixed, ms: 1}
    approval: {base: 1.0}
    incidents:
      - {name: outage, start_s: 50, end_s: 100, approval_delta: -1.0}
traffic:
  duration_s: 600
  arrival: {profile: constant, rate_per_s: 10}
  mix:
    networks: {visa: 1}
    issuer_countries: {DE: 1}
    currencies: {EUR: 1}
    amount: {dist: fixed, value: 1000}
  issuer_declines:
    base: {"51": 0.08, "54": 0.02}
    effects: [{when: {card_type: debit}, factor: 0.0}]
policies:
  - name: priority
    strategy: {type: priority}
    default: [acq_iso, acq_psp]
    retry: {attempt_timeout_ms: 400, budget_ms: 1000}
"""


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return parse_scenario(SCENARIO)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Client = httpx.AsyncClient


def run(
    scenario: Scenario,
    body: Callable[[Client, MockAcquirerService], Awaitable[None]],
    **options: Any,
) -> None:
    """Run ``body`` against a fresh in-process mock."""
    app = create_app(scenario, TOKEN, **options)

    async def main() -> None:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            await body(client, app)

    asyncio.run(main())


def iso_body(
    rrn: str,
    *,
    card_type: str = "debit",
    reference: str | None = None,
    issuer_country: str = "DE",
    amount: int = 1250,
) -> dict[str, Any]:
    return {
        "mti": "0100",
        "rrn": rrn,
        "amount": amount,
        "currency": "EUR",
        "pan_bin": "424242",
        "pan_last4": "4242",
        "network": "visa",
        "card_type": card_type,
        "issuer_country": issuer_country,
        "merchant_country": "DE",
        "merchant_reference": reference or f"order-{rrn}",
    }


def psp_body(
    reference: str, *, card_type: str = "debit", issuer_country: str = "DE", amount: int = 1250
) -> dict[str, Any]:
    return {
        "reference": reference,
        "amount": {"value": amount, "currency": "EUR"},
        "paymentMethod": {
            "brand": "visa",
            "bin": "424242",
            "last4": "4242",
            "fundingSource": card_type,
            "issuerCountry": issuer_country,
        },
        "merchantCountry": "DE",
    }


async def iso_pay(client: Client, acquirer: str, rrn: str, **kw: Any) -> httpx.Response:
    return await client.post(f"/{acquirer}/iso/authorise", json=iso_body(rrn, **kw))


async def psp_pay(client: Client, acquirer: str, key: str, **kw: Any) -> httpx.Response:
    return await client.post(
        f"/{acquirer}/psp/payments",
        json=psp_body(f"order-{key}", **kw),
        headers={"Idempotency-Key": key},
    )


async def admin(client: Client, method: str, path: str, **kw: Any) -> Any:
    response = await client.request(method, f"/admin{path}", headers=AUTH, **kw)
    assert response.status_code in (200, 201), response.text
    return response.json()


def issuer_declined_reference(code: str) -> str:
    """An order reference for which the issuer declines the test credit card with ``code``."""
    issuer = IssuerModel(parse_scenario(SCENARIO).traffic.issuer_declines)
    payment = Payment(1250, "EUR", "visa", "credit", "DE", "424242", False)
    for i in range(10_000):
        reference = f"order-issuer-{i}"
        u = issuer_uniform("424242", "4242", 1250, "EUR", reference)
        if issuer.decline_code(payment, u) == code:
            return reference
    raise AssertionError(f"no reference found for issuer code {code}")


# --- happy paths -------------------------------------------------------------------------


def test_iso_and_psp_happy_paths(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        iso = await iso_pay(client, "acq_iso", "rrn-1")
        assert iso.status_code == 200
        answer = iso.json()
        assert answer["mti"] == "0110" and answer["rrn"] == "rrn-1"
        assert answer["response_code"] == "00" and answer["acquirer"] == "acq_iso"
        assert len(answer["auth_code"]) == 6 and len(answer["stan"]) == 6
        psp = await psp_pay(client, "acq_psp", "key-1")
        assert psp.status_code == 200
        answer = psp.json()
        assert answer["resultCode"] == "Authorised" and answer["merchantReference"] == "order-key-1"
        assert len(answer["pspReference"]) == 16
        assert "refusalReason" not in answer and "refusalReasonCode" not in answer
        ledger = await admin(client, "GET", "/ledger")
        assert ledger["approved"] == 2 and ledger["reversed"] == 0
        assert {(e["acquirer"], e["key"]) for e in ledger["entries"]} == {
            ("acq_iso", "rrn-1"),
            ("acq_psp", "key-1"),
        }
        entry = next(e for e in ledger["entries"] if e["acquirer"] == "acq_psp")
        assert entry["acquirer_reference"] == answer["pspReference"]
        assert (entry["amount"], entry["currency"], entry["bin"], entry["last4"]) == (
            1250,
            "EUR",
            "424242",
            "4242",
        )

    run(scenario, body)


def test_cross_border_is_issuer_country_versus_merchant_country(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        domestic = await psp_pay(client, "acq_psp", "dom", issuer_country="DE")
        foreign = await psp_pay(client, "acq_psp", "xb", issuer_country="US")
        assert domestic.json()["resultCode"] == "Authorised"
        assert foreign.json()["resultCode"] in ("Refused", "Error")  # approval 1 - 1 = 0

    run(scenario, body)


# --- decline codes -----------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(set(CODES) - {"00"}))
def test_every_taxonomy_code_maps_to_a_psp_answer_and_back(code: str) -> None:
    answer = orjson.loads(payment_answer("0000000000000001", code, "order-1", ""))
    assert answer["resultCode"] in ("Refused", "Error")
    assert answer["refusalReasonCode"] and answer["refusalReason"]
    assert answer["additionalData"]["refusalReasonRaw"].startswith(f"{code} : ")
    if code in PSP_REFUSALS:
        assert (answer["resultCode"], answer["refusalReasonCode"]) == PSP_REFUSALS[code][:2]
    else:
        assert (answer["resultCode"], answer["refusalReasonCode"]) == ("Refused", "0")
    if CODES[code].outcome is OutcomeClass.TECHNICAL_ERROR:
        assert answer["resultCode"] == "Error"
    assert iso_code_from_psp(answer) == code


def test_psp_refusal_codes_are_unique_so_they_decode_unambiguously() -> None:
    reason_codes = [reason for _, reason, _ in PSP_REFUSALS.values()]
    assert len(set(reason_codes)) == len(reason_codes)
    assert "0" not in reason_codes  # reserved for "Unknown": the raw code decides then


def test_acquirer_declines_follow_the_dialect_table(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        await admin(
            client,
            "POST",
            "/acquirers/acq_iso/incidents",
            json={"name": "blackout", "approval_delta": -1.0},
        )
        await admin(
            client,
            "POST",
            "/acquirers/acq_psp/incidents",
            json={"name": "blackout", "approval_delta": -1.0},
        )
        iso_codes = [
            (await iso_pay(client, "acq_iso", f"i{i}")).json()["response_code"] for i in range(60)
        ]
        assert set(iso_codes) == {"05", "91", "N7"}  # all declined, only acquirer codes
        psp_answers = [(await psp_pay(client, "acq_psp", f"p{i}")).json() for i in range(60)]
        decoded = {iso_code_from_psp(a) for a in psp_answers}
        assert decoded == {"05", "59", "N7"}
        for answer in psp_answers:
            code = iso_code_from_psp(answer)
            expected = PSP_REFUSALS.get(code or "", ("Refused", "0", "Unknown"))
            assert (
                answer["resultCode"],
                answer["refusalReasonCode"],
                answer["refusalReason"],
            ) == expected
        counters = await admin(client, "GET", "/acquirers/acq_iso/counters")
        assert counters["approved"] == 0 and counters["declined"] == 60
        assert set(counters["declined_by_code"]) == {"05", "91", "N7"}
        cleared = await admin(client, "DELETE", "/acquirers/acq_iso/incidents")
        assert cleared["cleared"] == 1
        assert await iso_pay(client, "acq_iso", "after")
        assert (await iso_pay(client, "acq_iso", "after-2")).json()["response_code"] == "00"

    run(scenario, body)


def test_injected_errors_answer_in_each_dialect(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        for acquirer in ("acq_iso", "acq_psp"):
            await admin(
                client,
                "POST",
                f"/acquirers/{acquirer}/incidents",
                json={"error_rate": 1.0, "duration_s": 30},
            )
        assert (await iso_pay(client, "acq_iso", "e1")).json()["response_code"] == "96"
        answer = (await psp_pay(client, "acq_psp", "e1")).json()
        assert (answer["resultCode"], answer["refusalReasonCode"]) == ("Error", "4")
        counters = await admin(client, "GET", "/counters")
        assert counters["acq_iso"]["technical_errors"] == 1
        assert counters["acq_psp"]["technical_errors"] == 1

    run(scenario, body)


def test_issuer_decline_is_the_same_at_every_acquirer(scenario: Scenario) -> None:
    reference = issuer_declined_reference("51")

    async def body(client: Client, app: MockAcquirerService) -> None:
        iso = await client.post(
            "/acq_iso/iso/authorise",
            json=iso_body("card-1", card_type="credit", reference=reference),
        )
        psp_request = psp_body(reference, card_type="credit")
        psp = await client.post(
            "/acq_psp/psp/payments", json=psp_request, headers={"Idempotency-Key": "card-1"}
        )
        assert iso.json()["response_code"] == "51"
        assert psp.json()["refusalReasonCode"] == "12" and iso_code_from_psp(psp.json()) == "51"

    run(scenario, body)


def test_approval_rate_matches_the_behaviour_model(scenario: Scenario) -> None:
    n = 2000
    payment = Payment(1250, "EUR", "visa", "credit", "DE", "424242", False)
    behaviour = AcquirerBehaviour(scenario.acquirer("acq_stat"))
    issuer = IssuerModel(scenario.traffic.issuer_declines)
    p = behaviour.base_approval(payment) * (1.0 - issuer.decline_probability(payment))
    assert math.isclose(p, 0.85 * 0.9)

    async def body(client: Client, app: MockAcquirerService) -> None:
        codes: list[str] = []
        for start in range(0, n, 250):
            answers = await asyncio.gather(
                *(
                    iso_pay(client, "acq_stat", f"s{i}", card_type="credit")
                    for i in range(start, start + 250)
                )
            )
            codes += [a.json()["response_code"] for a in answers]
        approved = codes.count("00")
        # 99.9 % binomial interval around the model's probability
        half = 3.29 * math.sqrt(p * (1.0 - p) / n)
        assert abs(approved / n - p) < half, (approved / n, p)
        # issuer declines (51, 54) and acquirer declines (05) both show up
        assert {"05", "51", "54"} <= set(codes)
        ledger = await admin(client, "GET", "/acquirers/acq_stat/ledger")
        assert ledger["approved"] == approved

    run(scenario, body)


# --- idempotency, reversal, status -----------------------------------------------------------


def test_idempotent_replay_returns_the_first_answer_and_books_once(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        first = await iso_pay(client, "acq_iso", "dup")
        again = await iso_pay(client, "acq_iso", "dup")
        assert first.content == again.content
        first_psp = await psp_pay(client, "acq_psp", "dup")
        again_psp = await psp_pay(client, "acq_psp", "dup")
        assert first_psp.content == again_psp.content
        ledger = await admin(client, "GET", "/ledger")
        assert len(ledger["entries"]) == 2
        counters = await admin(client, "GET", "/acquirers/acq_iso/counters")
        assert (counters["requests"], counters["approved"], counters["idempotent_replays"]) == (
            2,
            1,
            1,
        )

    run(scenario, body)


def test_concurrent_duplicates_authorise_once(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        answers = await asyncio.gather(*(iso_pay(client, "acq_slow", "same") for _ in range(5)))
        assert len({a.content for a in answers}) == 1
        assert answers[0].json()["response_code"] == "00"
        ledger = await admin(client, "GET", "/acquirers/acq_slow/ledger")
        assert len(ledger["entries"]) == 1
        counters = await admin(client, "GET", "/acquirers/acq_slow/counters")
        assert (counters["approved"], counters["idempotent_replays"]) == (1, 4)

    run(scenario, body)


def test_iso_reversal_voids_once_and_is_idempotent(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        await iso_pay(client, "acq_iso", "rev")
        for _ in range(2):
            answer = (
                await client.post("/acq_iso/iso/reversal", json={"mti": "0400", "rrn": "rev"})
            ).json()
            assert answer == {"mti": "0410", "rrn": "rev", "response_code": "00", "reversed": True}
        unknown = await client.post("/acq_iso/iso/reversal", json={"mti": "0400", "rrn": "nope"})
        assert unknown.json()["reversed"] is False
        status = (await client.get("/acq_iso/iso/transactions/rev")).json()
        assert status == {"rrn": "rev", "status": "reversed", "response_code": "00"}
        ledger = await admin(client, "GET", "/acquirers/acq_iso/ledger")
        assert [e["status"] for e in ledger["entries"]] == ["reversed"]
        assert (await admin(client, "GET", "/acquirers/acq_iso/counters"))["reversals"] == 1

    run(scenario, body)


def test_psp_cancels_by_reference_and_by_key(scenario: Scenario) -> None:
    reference = issuer_declined_reference("54")

    async def body(client: Client, app: MockAcquirerService) -> None:
        psp_reference = (await psp_pay(client, "acq_psp", "c1")).json()["pspReference"]
        for _ in range(2):
            cancel = await client.post(f"/acq_psp/psp/payments/{psp_reference}/cancels")
            assert cancel.json() == {
                "pspReference": psp_reference,
                "status": "received",
                "cancelled": True,
            }
        await psp_pay(client, "acq_psp", "c2")
        by_key = (await client.post("/acq_psp/psp/cancels", json={"idempotencyKey": "c2"})).json()
        assert by_key["cancelled"] is True and len(by_key["pspReference"]) == 16
        declined = await client.post(
            "/acq_psp/psp/payments",
            json=psp_body(reference, card_type="credit"),
            headers={"Idempotency-Key": "c3"},
        )
        assert declined.json()["resultCode"] == "Refused"
        refused = await client.post("/acq_psp/psp/cancels", json={"idempotencyKey": "c3"})
        assert refused.json()["cancelled"] is False
        missing = await client.post("/acq_psp/psp/cancels", json={"idempotencyKey": "none"})
        assert missing.json() == {"pspReference": None, "status": "received", "cancelled": False}
        statuses = [
            (await client.get("/acq_psp/psp/payments", params={"idempotencyKey": k})).json()[
                "status"
            ]
            for k in ("c1", "c2", "c3", "none")
        ]
        assert statuses == ["Cancelled", "Cancelled", "Refused", "NotFound"]
        ledger = await admin(client, "GET", "/acquirers/acq_psp/ledger")
        assert (ledger["approved"], ledger["reversed"]) == (0, 2)

    run(scenario, body)


def test_status_inquiry_sees_pending_then_final_and_reversal_overtakes(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        hung = [asyncio.create_task(psp_pay(client, "acq_hang", k)) for k in ("h1", "h2")]
        await asyncio.sleep(0.05)
        for key in ("h1", "h2"):
            status = (
                await client.get("/acq_hang/psp/payments", params={"idempotencyKey": key})
            ).json()
            assert status["status"] == "Pending"
        counters = await admin(client, "GET", "/acquirers/acq_hang/counters")
        assert (counters["hung"], counters["in_flight"]) == (2, 2)
        # the router timed out on h2 and voids it before its answer exists
        cancel = await client.post("/acq_hang/psp/cancels", json={"idempotencyKey": "h2"})
        assert cancel.json()["cancelled"] is True
        started = time.monotonic()
        answers = await asyncio.gather(*hung)
        assert time.monotonic() - started > 0.15  # answered only after hang_ms (300 ms)
        assert [a.json()["resultCode"] for a in answers] == ["Authorised", "Authorised"]
        final = [
            (await client.get("/acq_hang/psp/payments", params={"idempotencyKey": k})).json()[
                "status"
            ]
            for k in ("h1", "h2")
        ]
        assert final == ["Authorised", "Cancelled"]
        ledger = await admin(client, "GET", "/acquirers/acq_hang/ledger")
        assert sorted(e["status"] for e in ledger["entries"]) == ["approved", "reversed"]
        iso = (await client.get("/acq_iso/iso/transactions/never")).json()
        assert iso == {"rrn": "never", "status": "not_found", "response_code": None}

    run(scenario, body)


# --- capacity ------------------------------------------------------------------------------


def test_capacity_queues_requests_fifo(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        done_at: list[float] = []

        async def pay(i: int) -> None:
            await iso_pay(client, "acq_slow", f"q{i}")
            done_at.append(time.monotonic() - started)

        started = time.monotonic()
        tasks = [asyncio.create_task(pay(i)) for i in range(4)]
        # however slow the machine, all four arrive before the first is served (50 ms)
        for _ in range(200):
            counters = await admin(client, "GET", "/acquirers/acq_slow/counters")
            if counters["in_flight"] + counters["queued"] == 4 or done_at:
                break
            await asyncio.sleep(0.001)
        assert (counters["in_flight"], counters["queued"]) == (1, 3)
        await asyncio.gather(*tasks)
        # capacity 1 x 50 ms: completions at least about 50 ms apart, 200 ms in all (a
        # slow machine only stretches these: no upper bound)
        assert max(done_at) >= 0.19, done_at
        gaps = [b - a for a, b in zip(sorted(done_at), sorted(done_at)[1:], strict=False)]
        assert min(gaps) > 0.035, gaps

    run(scenario, body)


def test_an_abandoned_attempt_keeps_its_slot_and_is_still_booked(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        started = time.monotonic()
        in_service = asyncio.create_task(iso_pay(client, "acq_slow", "gone-1"))
        await asyncio.sleep(0.01)
        queued = asyncio.create_task(iso_pay(client, "acq_slow", "gone-2"))
        await asyncio.sleep(0.01)
        in_service.cancel()  # the router gave up on both: one in service, one queued
        queued.cancel()
        answer = await iso_pay(client, "acq_slow", "patient")
        assert answer.json()["response_code"] == "00"
        assert time.monotonic() - started >= 0.14  # behind both abandoned attempts (3 x 50)
        for rrn in ("gone-1", "gone-2"):
            status = (await client.get(f"/acq_slow/iso/transactions/{rrn}")).json()
            assert status["status"] == "approved", rrn
        counters = await admin(client, "GET", "/acquirers/acq_slow/counters")
        assert (counters["in_flight"], counters["queued"], counters["approved"]) == (0, 0, 3)

    run(scenario, body)


def test_capacity_slots_hand_over_in_arrival_order() -> None:
    async def body() -> None:
        slots = CapacitySlots(2)
        assert slots.try_take() and slots.try_take() and not slots.try_take()
        order: list[str] = []

        async def wait(name: str) -> None:
            await slots.take()
            order.append(name)

        waiters = {name: asyncio.create_task(wait(name)) for name in "abcde"}
        await asyncio.sleep(0)
        assert (slots.busy, slots.queued) == (2, 5)
        waiters["a"].cancel()  # gives up while queued, and is skipped by the next release
        slots.release()  # -> b
        waiters["b"].cancel()  # handed the slot, cancelled before using it: passes it on
        for _ in range(3):
            await asyncio.sleep(0)
        assert order == ["c"] and (slots.busy, slots.queued) == (2, 2)
        waiters["e"].cancel()  # gives up while queued, leaves the line itself
        await asyncio.sleep(0)
        assert slots.queued == 1
        slots.release()  # -> d
        await asyncio.sleep(0)
        assert order == ["c", "d"] and (slots.busy, slots.queued) == (2, 0)
        outcomes = await asyncio.gather(*waiters.values(), return_exceptions=True)
        assert [type(o).__name__ for o in outcomes] == [
            "CancelledError",
            "CancelledError",
            "NoneType",
            "NoneType",
            "CancelledError",
        ]
        slots.release()
        slots.release()
        assert (slots.busy, slots.queued) == (0, 0) and slots.try_take()

    asyncio.run(body())


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rrn": ""}, "rrn"),
        ({"amount": True}, "amount"),
        ({"amount": -5}, "amount"),
        ({"currency": "eur"}, "currency"),
        ({"pan_bin": "42x242"}, "pan_bin"),
        ({"pan_last4": "424"}, "pan_last4"),
        ({"issuer_country": "DEU"}, "issuer_country"),
        ({"mti": "0200"}, "mti"),
        ({"rrn": "x" * 65}, "rrn"),
    ],
)
def test_malformed_iso_requests_are_400_with_the_field(
    scenario: Scenario, change: dict[str, Any], field: str
) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        response = await client.post("/acq_iso/iso/authorise", json={**iso_body("v"), **change})
        assert response.status_code == 400
        assert response.json()["field"] == field and response.json()["error"]

    run(scenario, body)


def test_malformed_requests_and_routing_errors(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        bad_json = await client.post("/acq_iso/iso/authorise", content=b"{not json")
        assert (bad_json.status_code, bad_json.json()["field"]) == (400, "body")
        no_key = await client.post("/acq_psp/psp/payments", json=psp_body("o"))
        assert (no_key.status_code, no_key.json()["field"]) == (400, "Idempotency-Key")
        nested = psp_body("o")
        nested["paymentMethod"]["bin"] = 424242
        bad_bin = await client.post(
            "/acq_psp/psp/payments", json=nested, headers={"Idempotency-Key": "k"}
        )
        assert (bad_bin.status_code, bad_bin.json()["field"]) == (400, "paymentMethod.bin")
        no_query = await client.get("/acq_psp/psp/payments")
        assert (no_query.status_code, no_query.json()["field"]) == (400, "idempotencyKey")
        assert (await iso_pay(client, "acq_nowhere", "x")).status_code == 404
        wrong_dialect = await client.post("/acq_iso/psp/payments", json=psp_body("o"))
        assert wrong_dialect.status_code == 404 and "iso8583" in wrong_dialect.json()["error"]
        huge = await client.post("/acq_iso/iso/authorise", content=b" " * 70_000)
        assert huge.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 10_000

        assert (await client.post("/acq_iso/iso/authorise", content=chunks())).status_code == 413
        wrong_method = await client.get("/acq_iso/iso/authorise")
        assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
        assert (await client.delete("/acq_psp/psp/payments")).status_code == 405
        counters = await admin(client, "GET", "/counters")
        assert counters["acq_iso"]["bad_requests"] == 3
        assert counters["acq_psp"]["bad_requests"] == 3
        assert counters["acq_iso"]["requests"] == 0

    run(scenario, body)


# --- admin -----------------------------------------------------------------------------------


def test_admin_needs_the_token_and_healthz_does_not(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            response = await client.get("/admin/ledger", headers=headers)
            assert response.status_code == 401 and response.headers["www-authenticate"]
            refused = await client.post(
                "/admin/acquirers/acq_iso/incidents", headers=headers, json={"approval_delta": -1.0}
            )
            assert refused.status_code == 401
        assert (await iso_pay(client, "acq_iso", "still-fine")).json()["response_code"] == "00"
        overview = await admin(client, "GET", "/acquirers")
        assert [a["name"] for a in overview["acquirers"]] == app.scenario.acquirer_names
        bad = await client.post(
            "/admin/acquirers/acq_iso/incidents", headers=AUTH, json={"approval_delta": -3}
        )
        assert (bad.status_code, bad.json()["field"]) == (400, "approval_delta")
        typo = await client.post(
            "/admin/acquirers/acq_iso/faults", headers=AUTH, json={"kind": "http_503", "rat": 1}
        )
        assert (typo.status_code, typo.json()["field"]) == (400, "rat")
        unknown = await client.get("/admin/acquirers/acq_nowhere/counters", headers=AUTH)
        assert unknown.status_code == 404

    run(scenario, body)


def test_incidents_follow_the_scenario_clock_and_time_scale(scenario: Scenario) -> None:
    clock = FakeClock()

    async def body(client: Client, app: MockAcquirerService) -> None:
        assert (await iso_pay(client, "acq_later", "t0")).json()["response_code"] == "00"
        clock.now += 6.0  # x10: scenario time 60 s, inside the scenario's outage [50, 100)
        assert (await iso_pay(client, "acq_later", "t60")).json()["response_code"] == "05"
        clock.now += 5.0  # 110 s: over
        assert (await iso_pay(client, "acq_later", "t110")).json()["response_code"] == "00"
        injected = await admin(
            client,
            "POST",
            "/acquirers/acq_later/incidents",
            json={"approval_delta": -1.0, "duration_s": 20},
        )
        assert (injected["incident"]["start_s"], injected["incident"]["end_s"]) == (110.0, 130.0)
        assert (await iso_pay(client, "acq_later", "t111")).json()["response_code"] == "05"
        clock.now += 2.5  # 135 s: the injected incident has ended by itself
        assert (await iso_pay(client, "acq_later", "t135")).json()["response_code"] == "00"

    run(scenario, body, time_scale=10.0, clock=clock)


def test_reset_clears_state_and_replays_the_same_outcomes(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        async def sequence() -> list[str]:
            answers = [await iso_pay(client, "acq_stat", f"r{i}") for i in range(40)]
            return [a.json()["response_code"] for a in answers]

        first = await sequence()
        hung = asyncio.create_task(psp_pay(client, "acq_hang", "before-reset"))
        await asyncio.sleep(0.05)
        await admin(client, "POST", "/acquirers/acq_stat/incidents", json={"error_rate": 0.5})
        await admin(
            client, "POST", "/acquirers/acq_stat/faults", json={"kind": "http_503", "rate": 0.5}
        )
        reset = await admin(client, "POST", "/reset")
        assert reset["reset"] is True
        counters = await admin(client, "GET", "/acquirers/acq_stat/counters")
        assert (counters["requests"], counters["approved"]) == (0, 0)
        assert (await admin(client, "GET", "/ledger"))["entries"] == []
        assert await sequence() == first  # same seed, same keys: same outcomes
        assert "05" in first and "00" in first
        # an attempt from before the reset still answers, but is not booked afterwards
        assert (await hung).json()["resultCode"] == "Authorised"
        assert (await admin(client, "GET", "/acquirers/acq_hang/ledger"))["entries"] == []
        hang_counters = await admin(client, "GET", "/acquirers/acq_hang/counters")
        assert (hang_counters["requests"], hang_counters["in_flight"]) == (0, 0)

    run(scenario, body)


def test_attempt_store_evicts_the_oldest_completed_attempts() -> None:
    store = AttemptStore(capacity=2)
    payment = Payment(100, "EUR", "visa", "debit", "DE", "424242", False)
    attempts = []
    for i in range(3):
        request = AuthorisationRequest(f"k{i}", f"o{i}", payment, "4242")
        attempt = Attempt(request, 0.0, "00", b"{}", f"ref{i}", service_ms=0.0, epoch=0)
        attempt.completed = i != 1  # k1 is still pending
        attempts.append(attempt)
        store.add(attempt)
    assert store.get("k0") is None and store.by_reference("ref0") is None
    assert [store.get(k) for k in ("k1", "k2")] == attempts[1:]
    store.add(
        Attempt(
            AuthorisationRequest("k3", "o3", payment, "4242"),
            0.0,
            "05",
            b"{}",
            "ref3",
            service_ms=0.0,
            epoch=0,
        )
    )
    assert store.get("k1") is attempts[1] and len(store) == 3  # pending: never evicted


# --- faults ----------------------------------------------------------------------------------


def test_rejection_faults_authorise_nothing(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        for kind, status in (("http_500", 500), ("http_503", 503), ("http_429", 429)):
            await admin(
                client, "POST", "/acquirers/acq_iso/faults", json={"kind": kind, "rate": 1.0}
            )
            response = await iso_pay(client, "acq_iso", f"f-{kind}")
            assert response.status_code == status and response.json()["fault"] == kind
            if status == 429:
                assert response.headers["retry-after"] == "1"
            status_after = (await client.get(f"/acq_iso/iso/transactions/f-{kind}")).json()
            assert status_after["status"] == "not_found"
            await admin(client, "DELETE", "/acquirers/acq_iso/faults")
        await admin(client, "POST", "/acquirers/acq_iso/faults", json={"kind": "reset"})
        with pytest.raises(ConnectionResetError):  # in-process: no socket to drop
            await iso_pay(client, "acq_iso", "f-reset")
        counters = await admin(client, "GET", "/acquirers/acq_iso/counters")
        assert counters["faults"] == {"http_500": 1, "http_503": 1, "http_429": 1, "reset": 1}
        assert counters["approved"] == 0 and counters["requests"] == 4
        assert (await admin(client, "GET", "/ledger"))["entries"] == []

    run(scenario, body)


def test_fault_rate_and_duration(scenario: Scenario) -> None:
    clock = FakeClock()

    async def body(client: Client, app: MockAcquirerService) -> None:
        fault = await admin(
            client,
            "POST",
            "/acquirers/acq_stat/faults",
            json={"kind": "http_503", "rate": 0.3, "duration_s": 10},
        )
        assert fault["fault"]["end_s"] == 10.0
        statuses = [(await iso_pay(client, "acq_stat", f"r{i}")).status_code for i in range(400)]
        assert abs(statuses.count(503) / 400 - 0.3) < 0.1
        clock.now += 11.0
        assert (await iso_pay(client, "acq_stat", "late")).status_code == 200

    run(scenario, body, clock=clock)


def test_malformed_and_late_approval_faults_still_book_the_attempt(scenario: Scenario) -> None:
    async def body(client: Client, app: MockAcquirerService) -> None:
        await admin(client, "POST", "/acquirers/acq_iso/faults", json={"kind": "malformed"})
        broken = await iso_pay(client, "acq_iso", "m1")
        assert broken.status_code == 200
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(broken.content)
        await admin(client, "DELETE", "/acquirers/acq_iso/faults")
        replay = await iso_pay(client, "acq_iso", "m1")  # the clean first answer
        assert replay.json()["response_code"] == "00"
        assert (await client.get("/acq_iso/iso/transactions/m1")).json()["status"] == "approved"

        # late approval: approved (even a card the issuer declines) but answered late
        reference = issuer_declined_reference("51")
        await admin(
            client,
            "POST",
            "/acquirers/acq_iso/faults",
            json={"kind": "late_approval", "delay_ms": 300},
        )
        started = time.monotonic()
        late = asyncio.create_task(
            client.post(
                "/acq_iso/iso/authorise",
                json=iso_body("late", card_type="credit", reference=reference),
            )
        )
        await asyncio.sleep(0.1)
        status = (await client.get("/acq_iso/iso/transactions/late")).json()
        assert status["status"] == "approved" and not late.done()
        assert (await late).json()["response_code"] == "00"
        assert time.monotonic() - started >= 0.29
        counters = await admin(client, "GET", "/acquirers/acq_iso/counters")
        assert counters["faults"] == {"malformed": 1, "late_approval": 1}
        assert len((await admin(client, "GET", "/acquirers/acq_iso/ledger"))["entries"]) == 2

    run(scenario, body)


def test_socket_faults_on_a_real_server(scenario: Scenario) -> None:
    app = create_app(scenario, TOKEN)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=5.0) as client:

        def inject(kind: str, **extra: Any) -> None:
            client.delete("/admin/acquirers/acq_iso/faults", headers=AUTH)
            response = client.post(
                "/admin/acquirers/acq_iso/faults",
                headers=AUTH,
                json={"kind": kind, "rate": 1.0, **extra},
            )
            assert response.status_code == 201

        inject("reset")
        with pytest.raises(httpx.TransportError):
            client.post("/acq_iso/iso/authorise", json=iso_body("s-reset"))
        inject("truncated")
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/acq_iso/iso/authorise", json=iso_body("s-trunc"))
        # slow body: the headers come at once, the body trickles in over delay_ms, so
        # only a deadline on the whole answer (as a router's attempt timeout) catches it
        inject("slow_body", delay_ms=600)
        started = time.monotonic()
        with client.stream("POST", "/acq_iso/iso/authorise", json=iso_body("s-slow")) as slow:
            headers_after = time.monotonic() - started
            content = slow.read()
        total = time.monotonic() - started
        assert total >= 0.5
        assert total - headers_after >= 0.3  # the body trickled in well after the headers
        assert orjson.loads(content)["response_code"] == "00"
        client.delete("/admin/acquirers/acq_iso/faults", headers=AUTH)
        # the server survived all that, and booked what it processed (not the reset one)
        assert client.get("/acq_iso/iso/transactions/s-reset").json()["status"] == "not_found"
        for rrn in ("s-trunc", "s-slow"):
            status = client.get(f"/acq_iso/iso/transactions/{rrn}").json()["status"]
            assert status == "approved", rrn
        counters = client.get("/admin/acquirers/acq_iso/counters", headers=AUTH).json()
        assert counters["faults"] == {"reset": 1, "truncated": 1, "slow_body": 1}


# --- entry point -----------------------------------------------------------------------------


def test_module_entry_point_serves_the_scenario(tmp_path: Path) -> None:
    scenario_file = tmp_path / "mock-test.yaml"
    scenario_file.write_text(SCENARIO, encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ROUTELAB_ADMIN_TOKEN": TOKEN}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mock_acquirers",
            "--scenario",
            str(scenario_file),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30.0
        while True:
            assert process.poll() is None, process.communicate()[1].decode()
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mock acquirers did not come up"
            time.sleep(0.1)
        answer = httpx.post(f"{url}/acq_iso/iso/authorise", json=iso_body("cli")).json()
        assert answer["response_code"] == "00"
        ledger = httpx.get(f"{url}/admin/ledger", headers=AUTH).json()  # token from the env
        assert [e["key"] for e in ledger["entries"]] == ["cli"]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    # uvicorn shuts down gracefully, then re-raises the signal it stopped on
    assert process.returncode in (0, -signal.SIGTERM), stderr.decode()
    assert "/acq_iso (iso8583)" in stderr.decode() and "Traceback" not in stderr.decode()


def test_command_line_arguments() -> None:
    args = parse_args(["--scenario", "baseline", "--port", "9100", "--time-scale", "60"])
    assert (args.scenario, args.host, args.port, args.time_scale, args.seed) == (
        "baseline",
        "127.0.0.1",
        9100,
        60.0,
        None,
    )
    with pytest.raises(SystemExit):
        parse_args(["--scenario", "baseline", "--time-scale", "0"])
