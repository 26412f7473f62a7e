"""The card schemes' rules in the live router, in-process: Merchant Advice Codes from the
mock acquirers through both dialects to the connectors and the lifecycle, and card tokens
(never card numbers) that let per-card rules and sticky routing know a returning card."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from loadtests.payer import card_fingerprint, card_last4, parse_answer, payment_body
from mock_acquirers.app import create_app as create_mock
from router.app import RouterSettings, create_app
from router.engine.cards import card_key
from router.iso8583 import IsoConnector
from router.payment_request import CardPayment, parse_payment
from router.psp import PspConnector
from router.transport import AsgiTransport
from scenarios.loader import parse_scenario
from scenarios.sampler import Payment

TOKEN = "schemes-token"
FAST = "latency: {dist: fixed, ms: 2}"
SCENARIO = f"""
name: schemes
merchant: {{country: DE}}
acquirers:
  - {{name: iso_mac, dialect: iso8583, {FAST}, approval: {{base: 0.0}},
     merchant_advice_codes: {{"03": 1.0}}}}
  - {{name: psp_mac, dialect: psp, {FAST}, approval: {{base: 0.0}},
     merchant_advice_codes: {{"21": 1.0}}}}
  - {{name: iso_no, dialect: iso8583, {FAST}, approval: {{base: 0.0}}}}
  - {{name: ok, dialect: psp, {FAST}, approval: {{base: 1.0}}}}
traffic:
  duration_s: 600
  arrival: {{profile: constant, rate_per_s: 10}}
  mix: {{networks: {{mastercard: 1}}, issuer_countries: {{DE: 1}}, currencies: {{EUR: 1}},
        amount: {{dist: fixed, value: 1000}}}}
  issuer_declines: {{base: {{}}}}
  cards: {{count: 100}}
schemes:
  visa: {{retry_limit: 1, over_limit: pay}}
policies:
  - {{name: iso_mac, strategy: {{type: priority}}, default: [iso_mac, ok]}}
  - {{name: psp_mac, strategy: {{type: priority}}, default: [psp_mac, ok]}}
  - {{name: no_mac, strategy: {{type: priority}}, default: [iso_no, ok]}}
"""
CARD = {"bin": "524242", "last4": "4242", "network": "mastercard", "type": "credit"}


def body(network: str = "mastercard", **card: Any) -> dict[str, Any]:
    bin_ = "424242" if network == "visa" else "524242"
    return {
        "amount": 1250,
        "currency": "EUR",
        "card": {**CARD, "issuer_country": "DE", "network": network, "bin": bin_, **card},
        "merchant_reference": "order-1",
    }


def test_both_dialects_carry_the_advice_code_to_the_connector() -> None:
    scenario = parse_scenario(SCENARIO)

    async def main() -> None:
        mock = create_mock(scenario, TOKEN)
        transport = AsgiTransport(mock)
        mastercard = CardPayment(
            "p1", 1250, "EUR", "mastercard", "credit", "DE", "524242", "4242", False, "DE", "o1"
        )
        visa = CardPayment(
            "p2", 1250, "EUR", "visa", "credit", "DE", "424242", "4242", False, "DE", "o2"
        )
        for connector, advice in (
            (IsoConnector("iso_mac", transport), "03"),
            (PspConnector("psp_mac", transport), "21"),
            (IsoConnector("iso_no", transport), ""),
        ):
            answer = await connector.authorise(mastercard, f"{connector.acquirer}-1", 1.0)
            assert (answer.code, answer.advice) == ("05", advice)
            other = await connector.authorise(visa, f"{connector.acquirer}-2", 1.0)
            assert (other.code, other.advice) == ("05", "")
        await transport.close()
        for acquirer in mock.acquirers.values():
            acquirer.cancel_pending()

    asyncio.run(main())


async def routed(policy: str, payments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    scenario = parse_scenario(SCENARIO)
    mock = create_mock(scenario, TOKEN)
    transport = AsgiTransport(mock)
    app = create_app(scenario, TOKEN, transport=transport, settings=RouterSettings(policy=policy))
    answers = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://router"
    ) as client:
        for i, data in enumerate(payments):
            response = await client.post(
                "/v1/payments", json=data, headers={"Idempotency-Key": f"k-{i}"}
            )
            answers.append(response.json() | {"http": response.status_code})
    await app.state.service.reversals.close()
    await transport.close()
    for acquirer in mock.acquirers.values():
        acquirer.cancel_pending()
    return answers


def test_advice_to_stop_ends_the_payment_and_the_answer_says_so() -> None:
    for policy in ("iso_mac", "psp_mac"):
        (answer,) = asyncio.run(routed(policy, [body()]))
        assert answer["http"] == 200
        assert (answer["status"], len(answer["attempts"])) == ("declined", 1), policy
        assert answer["schemes"] == {"fees": 0.0, "excess_attempts": 0, "stopped": True}
        assert parse_answer(orjson.dumps(answer)).scheme_stopped
    (plain,) = asyncio.run(routed("no_mac", [body()]))
    assert (plain["status"], len(plain["attempts"])) == ("approved", 2)
    assert "schemes" not in plain


def test_a_returning_card_token_is_counted_per_card() -> None:
    # Visa, one retry allowed then paid for: the same token twice pays once
    same = [body("visa", fingerprint="card-0000042")] * 2
    answers = asyncio.run(routed("no_mac", same))
    assert [a["status"] for a in answers] == ["approved", "approved"]
    assert "schemes" not in answers[0]
    assert answers[1]["schemes"] == {"fees": 10.0, "excess_attempts": 1, "stopped": False}
    parsed = parse_answer(orjson.dumps(answers[1]))
    assert (parsed.scheme_fees, parsed.excess_attempts) == (10.0, 1)
    # two cards: each has its own allowance
    two = [body("visa", fingerprint="card-0000042"), body("visa", fingerprint="card-0000043")]
    assert all("schemes" not in a for a in asyncio.run(routed("no_mac", two)))


def test_a_card_token_is_read_never_a_card_number() -> None:
    request = parse_payment(orjson.dumps(body(fingerprint="card-0000042")))
    payment = CardPayment.from_request(request, "p", "DE")
    assert payment.card == card_key("card-0000042") >= 0
    assert CardPayment.from_request(parse_payment(orjson.dumps(body())), "p", "DE").card == -1
    (refused,) = asyncio.run(routed("no_mac", [body(fingerprint="4242424242424242")]))
    assert refused["http"] == 422
    assert [p["field"] for p in refused["problems"]] == ["card.fingerprint"]
    assert "4242424242424242" not in orjson.dumps(refused).decode()
    (short,) = asyncio.run(routed("no_mac", [body(fingerprint="abc")]))
    assert short["http"] == 422 and "card token" in short["problems"][0]["problem"]
    # different tokens are different payments to the idempotency store
    a = parse_payment(orjson.dumps(body(fingerprint="card-0000042")))
    b = parse_payment(orjson.dumps(body(fingerprint="card-0000043")))
    assert a.fingerprint() != b.fingerprint()


def test_the_load_generator_sends_a_population_card_as_its_token() -> None:
    card = Payment(1250, "EUR", "visa", "credit", "DE", "424242", False, 42)
    sent = orjson.loads(payment_body(card, card_last4(42), "ref-1"))
    assert sent["card"]["fingerprint"] == card_fingerprint(42) == "card-0000042"
    assert sent["card"]["last4"] == card_last4(42) == card_last4(42)
    unknown = orjson.loads(payment_body(card._replace(card=-1), "1234", "ref-2"))
    assert "fingerprint" not in unknown["card"]
    assert parse_payment(orjson.dumps(sent)).card.fingerprint == "card-0000042"
