"""Acquirer connectors: both dialects on the wire, code normalisation, HTTP-level failures.

Three layers: a scripted transport (exact bytes in, exact answers out), the real mock
acquirer app in-process (the wire contract both sides implement), and the production
aiohttp transport against the mock on a loopback socket (faults that only exist on a
real connection: resets, truncated bodies, slow bodies).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_acquirers.app import MockAcquirerService
from mock_acquirers.app import create_app as create_mock
from mock_acquirers.dialects.psp import ISO_TEXTS, PSP_REFUSALS, payment_answer
from mock_acquirers.server import BackgroundServer
from router.connectors import AttemptStatus, Connector, VoidResult
from router.iso8583 import IsoConnector
from router.payment_request import CardPayment
from router.psp import REFUSAL_REASONS, PspConnector
from router.transport import (
    AiohttpTransport,
    AsgiTransport,
    TransportError,
    TransportResponse,
    timed_out,
)
from scenarios.loader import parse_scenario
from scenarios.taxonomy import OutcomeClass

PAYMENT = CardPayment(
    "pay_1", 1250, "EUR", "visa", "credit", "FR", "424242", "4242", True, "DE", "order-1"
)
TOKEN = "test-admin-token"
T = TypeVar("T")


class ScriptedTransport:
    """Answers each request with the next scripted reply; records what was sent."""

    def __init__(self, *replies: TransportResponse | TransportError) -> None:
        self.replies = list(replies)
        self.sent: list[tuple[str, str, bytes | None, Mapping[str, str]]] = []

    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> TransportResponse:
        self.sent.append(("POST", path, body, headers))
        return self._next()

    async def get(self, path: str, timeout_s: float) -> TransportResponse:
        self.sent.append(("GET", path, None, {}))
        return self._next()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _next(self) -> TransportResponse:
        reply = self.replies.pop(0)
        if isinstance(reply, TransportError):
            raise reply
        return reply


def ok(data: object) -> TransportResponse:
    return TransportResponse(200, {"content-type": "application/json"}, orjson.dumps(data))


def run(call: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(call)


# --- iso8583 -----------------------------------------------------------------------------


def test_iso_authorisation_request_carries_bin_and_last4_only_under_the_rrn() -> None:
    transport = ScriptedTransport(
        ok(
            {
                "mti": "0110",
                "rrn": "pay_1-1",
                "response_code": "00",
                "auth_code": "AB12CD",
                "stan": "000123",
            }
        )
    )
    answer = run(IsoConnector("acq_b", transport).authorise(PAYMENT, "pay_1-1", 1.0))
    method, path, body, headers = transport.sent[0]
    assert (method, path, dict(headers)) == ("POST", "/acq_b/iso/authorise", {})
    assert orjson.loads(body or b"") == {
        "mti": "0100",
        "rrn": "pay_1-1",
        "amount": 1250,
        "currency": "EUR",
        "pan_bin": "424242",
        "pan_last4": "4242",
        "network": "visa",
        "card_type": "credit",
        "issuer_country": "FR",
        "merchant_country": "DE",
        "merchant_reference": "order-1",
    }
    assert answer.approved and answer.certain
    assert (answer.code, answer.raw_code, answer.reference) == ("00", "00", "000123")


@pytest.mark.parametrize(
    ("code", "outcome", "cascadable"),
    [
        ("05", OutcomeClass.SOFT_DECLINE, True),
        ("51", OutcomeClass.SOFT_DECLINE, False),
        ("43", OutcomeClass.HARD_DECLINE, False),
        ("96", OutcomeClass.TECHNICAL_ERROR, True),
    ],
)
def test_iso_response_codes_are_classified_by_the_shared_taxonomy(
    code: str, outcome: OutcomeClass, cascadable: bool
) -> None:
    transport = ScriptedTransport(
        ok({"mti": "0110", "rrn": "k", "response_code": code, "stan": "1"})
    )
    answer = run(IsoConnector("acq_b", transport).authorise(PAYMENT, "k", 1.0))
    assert (answer.code, answer.info.outcome, answer.info.cascadable) == (code, outcome, cascadable)
    assert answer.certain


def test_iso_answer_for_another_rrn_or_wrong_mti_is_a_bad_body() -> None:
    for reply in (
        {"mti": "0110", "rrn": "other", "response_code": "00"},
        {"mti": "0410", "rrn": "k", "response_code": "00"},
    ):
        answer = run(
            IsoConnector("acq_b", ScriptedTransport(ok(reply))).authorise(PAYMENT, "k", 1.0)
        )
        assert answer.code == "BAD_BODY"
        assert answer.info.outcome is OutcomeClass.TECHNICAL_ERROR
        assert not answer.certain  # it may have been processed: void before cascading


def test_iso_reversal_and_status_inquiry() -> None:
    transport = ScriptedTransport(
        ok({"mti": "0410", "rrn": "k/1", "response_code": "00", "reversed": True}),
        ok({"mti": "0410", "rrn": "k/1", "response_code": "00", "reversed": False}),
        ok({"rrn": "k/1", "status": "pending", "response_code": None}),
        TransportError("CONN_RESET", True),
    )
    connector = IsoConnector("acq_b", transport)
    assert run(connector.void("k/1", 1.0)) is VoidResult.VOIDED
    assert run(connector.void("k/1", 1.0)) is VoidResult.NOT_VOIDED
    assert run(connector.status("k/1", 1.0)) is AttemptStatus.PENDING
    assert run(connector.status("k/1", 1.0)) is AttemptStatus.UNKNOWN
    assert orjson.loads(transport.sent[0][2] or b"") == {"mti": "0400", "rrn": "k/1"}
    assert transport.sent[2][:2] == ("GET", "/acq_b/iso/transactions/k%2F1")


# --- psp -------------------------------------------------------------------------------


def test_psp_authorisation_request_uses_its_own_vocabulary_and_the_header_key() -> None:
    transport = ScriptedTransport(
        ok({"pspReference": "PSP0000000000001", "resultCode": "Authorised"})
    )
    answer = run(PspConnector("acq_a", transport).authorise(PAYMENT, "pay_1-2", 1.0))
    method, path, body, headers = transport.sent[0]
    assert (method, path, dict(headers)) == (
        "POST",
        "/acq_a/psp/payments",
        {"Idempotency-Key": "pay_1-2"},
    )
    assert orjson.loads(body or b"") == {
        "reference": "order-1",
        "amount": {"value": 1250, "currency": "EUR"},
        "paymentMethod": {
            "brand": "visa",
            "bin": "424242",
            "last4": "4242",
            "fundingSource": "credit",
            "issuerCountry": "FR",
        },
        "merchantCountry": "DE",
    }
    assert answer.approved and answer.reference == "PSP0000000000001"


def test_connector_table_is_the_psp_documentation_table() -> None:
    documented = {(result, reason): iso for iso, (result, reason, _) in PSP_REFUSALS.items()}
    assert documented == REFUSAL_REASONS


@pytest.mark.parametrize("code", sorted({"00", *PSP_REFUSALS, *ISO_TEXTS}))
def test_every_code_the_mock_can_emit_decodes_back_to_itself(code: str) -> None:
    body = payment_answer("PSP0000000000001", code, "order-1", "AB12CD")
    answer = PspConnector("acq_a", ScriptedTransport()).decode_authorisation(body, "k")
    assert answer.code == code
    assert answer.info.code == code


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[0-9A-Z]{2}", fullmatch=True))
def test_any_scenario_decline_code_survives_the_psp_round_trip(code: str) -> None:
    body = payment_answer("PSP0000000000001", code, "order-1", "")
    answer = PspConnector("acq_a", ScriptedTransport()).decode_authorisation(body, "k")
    assert answer.code == code


def test_psp_refusal_keeps_the_raw_code_and_falls_back_on_the_raw_reason() -> None:
    connector = PspConnector("acq_a", ScriptedTransport())
    refused = connector.decode_authorisation(
        orjson.dumps(
            {
                "pspReference": "P",
                "resultCode": "Refused",
                "refusalReasonCode": "2",
                "refusalReason": "Refused",
            }
        ),
        "k",
    )
    assert (refused.code, refused.raw_code) == ("05", "Refused:2")
    unknown = connector.decode_authorisation(
        orjson.dumps(
            {
                "pspReference": "P",
                "resultCode": "Refused",
                "refusalReasonCode": "0",
                "additionalData": {"refusalReasonRaw": "13 : Invalid amount"},
            }
        ),
        "k",
    )
    assert (unknown.code, unknown.raw_code) == ("13", "Refused:0")
    error = connector.decode_authorisation(
        orjson.dumps({"pspReference": "P", "resultCode": "Error", "refusalReasonCode": "11"}), "k"
    )
    assert error.code == "91" and error.info.outcome is OutcomeClass.TECHNICAL_ERROR


def test_psp_cancel_by_key_and_status() -> None:
    transport = ScriptedTransport(
        ok({"pspReference": None, "status": "received", "cancelled": False}),
        ok({"status": "Cancelled", "pspReference": "P"}),
        ok({"status": "NotFound", "pspReference": None}),
        ok({"status": "Sideways"}),
    )
    connector = PspConnector("acq_a", transport)
    assert run(connector.void("pay_1-1", 1.0)) is VoidResult.NOT_VOIDED
    assert transport.sent[0][1] == "/acq_a/psp/cancels"
    assert orjson.loads(transport.sent[0][2] or b"") == {"idempotencyKey": "pay_1-1"}
    assert run(connector.status("pay_1-1", 1.0)) is AttemptStatus.REVERSED
    assert transport.sent[1][:2] == ("GET", "/acq_a/psp/payments?idempotencyKey=pay_1-1")
    assert run(connector.status("pay_1-1", 1.0)) is AttemptStatus.NOT_FOUND
    assert run(connector.status("pay_1-1", 1.0)) is AttemptStatus.UNKNOWN


# --- HTTP-level failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "code", "certain"),
    [
        (TransportResponse(503, {}, b"{}"), "HTTP_503", True),
        (TransportResponse(429, {"retry-after": "1"}, b"{}"), "HTTP_429", True),
        (TransportResponse(500, {}, b"{}"), "HTTP_500", False),
        (TransportError("CONN_RESET", True), "CONN_RESET", False),
        (TransportError("CONN_REFUSED", False), "CONN_REFUSED", True),
        (TransportResponse(200, {}, b'{"resultCode": "Auth'), "BAD_BODY", False),
    ],
)
def test_http_failures_are_cascadable_technical_errors_blamed_on_the_acquirer(
    reply: TransportResponse | TransportError, code: str, certain: bool
) -> None:
    for connector_type in (IsoConnector, PspConnector):
        connector: Connector = connector_type("acq", ScriptedTransport(reply))
        answer = run(connector.authorise(PAYMENT, "k", 1.0))
        assert (answer.code, answer.raw_code, answer.certain) == (code, code, certain)
        assert answer.info.outcome is OutcomeClass.TECHNICAL_ERROR
        assert answer.info.cascadable and answer.info.acquirer_side


def test_a_timeout_is_an_unknown_outcome_not_a_decline() -> None:
    answer = run(IsoConnector("acq", ScriptedTransport(timed_out())).authorise(PAYMENT, "k", 1.0))
    assert (answer.code, answer.info.outcome, answer.certain) == ("68", OutcomeClass.TIMEOUT, False)


# --- against the real mock acquirers -------------------------------------------------------

MOCK_SCENARIO = """
name: connectors
merchant: {country: DE}
acquirers:
  - {name: acq_iso, dialect: iso8583, latency: {dist: fixed, ms: 5},
     approval: {base: 1.0}}
  - {name: acq_psp, dialect: psp, latency: {dist: fixed, ms: 5},
     approval: {base: 1.0}}
traffic:
  duration_s: 60
  arrival: {profile: constant, rate_per_s: 1}
  mix: {networks: {visa: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
  issuer_declines: {base: {}}
policies:
  - {name: priority, strategy: {type: priority}, default: [acq_iso, acq_psp],
     retry: {attempt_timeout_ms: 1000, budget_ms: 3000}}
"""


async def _inject(mock: MockAcquirerService, acquirer: str, kind: str, **extra: float) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(mock), base_url="http://mock"
    ) as admin:
        response = await admin.post(
            f"/admin/acquirers/{acquirer}/faults",
            json={"kind": kind, "rate": 1.0, **extra},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("kind", ["http_503", "reset", "truncated", "malformed"])
def test_in_process_transport_reports_mock_faults_like_a_socket_would(kind: str) -> None:
    expected = {
        "http_503": "HTTP_503",
        "reset": "CONN_RESET",
        "truncated": "BAD_BODY",
        "malformed": "BAD_BODY",
    }[kind]

    async def scenario() -> None:
        mock = create_mock(parse_scenario(MOCK_SCENARIO), TOKEN)
        transport = AsgiTransport(mock)
        for name, connector in (
            ("acq_iso", IsoConnector("acq_iso", transport)),
            ("acq_psp", PspConnector("acq_psp", transport)),
        ):
            assert (await connector.authorise(PAYMENT, f"{name}-ok", 1.0)).approved
            await _inject(mock, name, kind)
            answer = await connector.authorise(PAYMENT, f"{name}-fault", 1.0)
            assert answer.code == expected
        await transport.close()

    asyncio.run(scenario())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_aiohttp_transport_against_the_mock_on_a_real_socket() -> None:
    mock = create_mock(parse_scenario(MOCK_SCENARIO), TOKEN)

    async def scenario(url: str) -> None:
        transport = AiohttpTransport(url, connections=8)
        await transport.start()
        iso = IsoConnector("acq_iso", transport)
        approved = await iso.authorise(PAYMENT, "sock-1", 1.0)
        assert approved.approved and approved.certain
        for kind, code in (
            ("reset", "CONN_RESET"),
            ("truncated", "BAD_BODY"),
            ("malformed", "BAD_BODY"),
            ("http_429", "HTTP_429"),
        ):
            async with httpx.AsyncClient(base_url=url) as admin:
                headers = {"Authorization": f"Bearer {TOKEN}"}
                await admin.delete("/admin/acquirers/acq_iso/faults", headers=headers)
                await admin.post(
                    "/admin/acquirers/acq_iso/faults",
                    headers=headers,
                    json={"kind": kind, "rate": 1.0},
                )
            answer = await iso.authorise(PAYMENT, f"sock-{kind}", 1.0)
            assert answer.code == code, kind
        async with httpx.AsyncClient(base_url=url) as admin:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            await admin.delete("/admin/acquirers/acq_iso/faults", headers=headers)
            await admin.post(
                "/admin/acquirers/acq_iso/faults",
                headers=headers,
                json={"kind": "slow_body", "rate": 1.0, "delay_ms": 2000},
            )
        slow = await iso.authorise(PAYMENT, "sock-slow", 0.3)
        assert (slow.code, slow.info.outcome) == ("68", OutcomeClass.TIMEOUT)
        # the void and the status inquiry still work on the same pooled session
        assert await iso.void("sock-slow", 1.0) is VoidResult.VOIDED
        assert await iso.status("sock-slow", 1.0) in (AttemptStatus.REVERSED, AttemptStatus.PENDING)
        await transport.close()
        refused = AiohttpTransport(f"http://127.0.0.1:{_closed_port()}")
        await refused.start()
        answer = await IsoConnector("acq_iso", refused).authorise(PAYMENT, "nobody-home", 1.0)
        assert (answer.code, answer.certain) == ("CONN_REFUSED", True)
        await refused.close()

    with BackgroundServer(mock) as server:
        asyncio.run(scenario(server.url))
