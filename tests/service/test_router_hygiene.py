"""The router's hygiene in-process: card data, ISO codes, one error shape, the schema,
paging, slow clients, admission control, and the pool wait kept off the attempt clock.

The router runs against the real mock acquirer app (in-process, no sockets), except for
the pool tests, which need aiohttp's real pool against a mock on a loopback socket.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import orjson
import pytest

from mock_acquirers.app import create_app as create_mock
from mock_acquirers.server import BackgroundServer
from router.admin import MAX_OFFSET, MAX_PAGE
from router.app import RouterApp, RouterSettings, create_app
from router.connectors import failure_answer
from router.iso8583 import IsoConnector
from router.openapi import Health, PaymentAnswer, PaymentsPage, PolicyView, Problem
from router.payment_request import CardPayment
from router.psp import PspConnector
from router.transport import (
    POOL_EXHAUSTED,
    AiohttpTransport,
    AsgiTransport,
    Headers,
    TransportError,
    TransportResponse,
)
from scenarios.loader import parse_scenario
from scenarios.taxonomy import TIMEOUT_CODE, OutcomeClass

TOKEN = "hygiene-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCENARIO = """
name: hygiene
merchant: {country: DE}
acquirers:
  - {name: psp_ok, dialect: psp, latency: {dist: fixed, ms: 5}, approval: {base: 1.0}}
  - {name: iso_ok, dialect: iso8583, latency: {dist: fixed, ms: 5}, approval: {base: 1.0}}
  - {name: psp_slow, dialect: psp, latency: {dist: fixed, ms: 300}, approval: {base: 1.0}}
  - {name: iso_slow, dialect: iso8583, latency: {dist: fixed, ms: 2000}, approval: {base: 1.0}}
traffic:
  duration_s: 60
  arrival: {profile: constant, rate_per_s: 10}
  mix: {networks: {visa: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
  issuer_declines: {base: {}}
policies:
  - {name: psp_first, strategy: {type: priority}, default: [psp_ok, iso_ok]}
  - {name: slow, strategy: {type: priority}, default: [psp_slow]}
  - {name: sr, strategy: {type: sr_window, window: 20, exploration: 0.0},
     default: [psp_ok, iso_ok]}
"""
CARD = {
    "bin": "424242",
    "last4": "4242",
    "network": "visa",
    "type": "credit",
    "issuer_country": "DE",
}
PAN = "4242424242424242"
PROBES = [
    "4242 4242 4242 4242",
    "4242-4242-4242-4242",
    "4242.4242.4242.4242",
    "4242\u20134242\u20134242\u20134242",  # en dashes
    "4242\u00a04242\u00a04242\u00a04242",  # non-breaking spaces
    "\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12",
]


def body(reference: str = "order-1", **changes: Any) -> dict[str, Any]:
    return {
        "amount": 1250,
        "currency": "EUR",
        "card": dict(CARD),
        "merchant_reference": reference,
        **changes,
    }


def carries_pan(text: str) -> bool:
    """Whether ``text`` holds the probe's digits in any spelling (separators dropped)."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", text))
    return PAN in digits


class Logs(logging.Handler):
    """Every line the router logs during a test, formatted with its structured fields."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", {})
        self.lines.append(f"{record.getMessage()} {orjson.dumps(fields, default=str).decode()}")


class Router:
    """The router app against the in-process mock, with a client and the mock's ledger."""

    def __init__(self, policy: str = "psp_first", **settings: Any) -> None:
        self.scenario = parse_scenario(SCENARIO)
        self.mock = create_mock(self.scenario, TOKEN)
        self.transport = AsgiTransport(self.mock)
        self.app = create_app(
            self.scenario,
            TOKEN,
            transport=self.transport,
            settings=RouterSettings(policy=policy, **settings),
        )
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.app), base_url="http://router"
        )
        self.mock_admin = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.mock), base_url="http://mock", headers=AUTH
        )
        self.logs = Logs()

    async def pay(self, data: Any, key: str = "key-1", **headers: str) -> httpx.Response:
        content = data if isinstance(data, bytes) else orjson.dumps(data)
        return await self.client.post(
            "/v1/payments",
            content=content,
            headers={"Idempotency-Key": key, "content-type": "application/json", **headers},
        )

    async def ledger(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = (await self.mock_admin.get("/admin/ledger")).json()[
            "entries"
        ]
        return entries

    async def book_text(self) -> str:
        return (await self.client.get("/admin/payments", headers=AUTH)).text

    async def close(self) -> None:
        await self.client.aclose()
        await self.mock_admin.aclose()
        await self.app.state.service.reversals.close()
        await self.transport.close()
        for acquirer in self.mock.acquirers.values():
            acquirer.cancel_pending()


def run(test: Callable[[Router], Awaitable[None]], **settings: Any) -> None:
    async def main() -> None:
        router = Router(**settings)
        logger = logging.getLogger("router")
        logger.addHandler(router.logs)
        level = logger.level
        logger.setLevel(logging.DEBUG)
        try:
            await test(router)
        finally:
            logger.removeHandler(router.logs)
            logger.setLevel(level)
            await router.close()

    asyncio.run(main())


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    data = response.json()
    Problem.model_validate(data)  # exactly {"error", "problems": [{"field", "problem"}]}
    assert set(data) == {"error", "problems"}
    assert data["error"] and data["problems"] and all(p["problem"] for p in data["problems"])
    if field is not None:
        assert field in [p["field"] for p in data["problems"]], data


# --- card data ---------------------------------------------------------------------------


def _probes(pan: str) -> list[tuple[str, Any, dict[str, str], str, int]]:
    """(name, body, extra headers, field named, status) for one spelling of the PAN."""
    ascii_pan = unicodedata.normalize("NFKC", pan)
    compact = re.sub(r"\D", "", ascii_pan)
    return [
        ("reference", body(f"order {pan}"), {}, "merchant_reference", 422),
        ("network", body(card={**CARD, "network": f"visa{compact}"}), {}, "card.network", 422),
        ("type", body(card={**CARD, "type": f"credit_{compact}"}), {}, "card.type", 422),
        ("number", body(card={**CARD, "number": pan}), {}, "card.number", 422),
        ("metadata", body(metadata={"note": pan}), {}, "metadata", 422),
        ("key name", body(**{pan: 1}), {}, "[card number removed]", 422),
        ("bin", body(card={**CARD, "bin": compact}), {}, "card.bin", 422),
        (
            "idempotency key",
            body(),
            {"Idempotency-Key": "k-" + re.sub(r"\D+", ".", ascii_pan)},  # headers are ASCII
            "Idempotency-Key",
            400,
        ),
    ]


@pytest.mark.parametrize("pan", PROBES)
def test_card_numbers_in_any_field_never_reach_book_ledger_log_or_answer(pan: str) -> None:
    async def test(r: Router) -> None:
        for name, data, headers, field, status in _probes(pan):
            response = await r.pay(data, **headers)
            assert_problem(response, status, field)
            assert not carries_pan(response.text), (name, response.text)
            if name in ("reference", "network", "type", "idempotency key"):
                problem = next(p for p in response.json()["problems"] if p["field"] == field)
                assert problem["problem"].startswith("looks like a card number"), name
        assert await r.ledger() == []
        book = orjson.loads(await r.book_text())
        assert book["total"] == 0
        assert not any(carries_pan(line) for line in r.logs.lines)
        # the refusals used up nothing: a clean payment under the same key goes through
        assert (await r.pay(body())).json()["status"] == "approved"
        assert not carries_pan(await r.book_text())
        assert not any(carries_pan(str(e)) for e in await r.ledger())

    run(test)


def test_card_numbers_in_a_policy_are_refused_without_a_trace() -> None:
    policy = {"name": "p", "strategy": {"type": "priority"}, "default": ["psp_ok"]}
    spaced = "4242 4242 4242 4242"
    attempts: list[tuple[bytes, str, str]] = [
        (orjson.dumps({**policy, "name": f"card {spaced}"}), "application/json", "name"),
        (orjson.dumps({**policy, "default": [PAN]}), "application/json", "default[0]"),
        (orjson.dumps({**policy, PAN: 1}), "application/json", "[card number removed]"),
        (
            (
                "name: p\nstrategy: {type: priority}\ndefault: [psp_ok]\n"
                f"rules: [{{name: '{spaced}'"
            ).encode(),
            "application/yaml",
            "body",
        ),  # a YAML error quotes the line it stopped at
        (
            f"name: p\nstrategy: {{type: {PAN}}}\ndefault: [psp_ok]\n".encode(),
            "application/yaml",
            "strategy.type",
        ),
    ]

    async def test(r: Router) -> None:
        for content, kind, field in attempts:
            response = await r.client.put(
                "/admin/policy", content=content, headers={**AUTH, "content-type": kind}
            )
            assert_problem(response, 422, field)
            assert not carries_pan(response.text), response.text
        assert r.logs.lines and all("policy change refused" in line for line in r.logs.lines)
        assert not any(carries_pan(line) for line in r.logs.lines), r.logs.lines
        current = (await r.client.get("/admin/policy", headers=AUTH)).json()
        assert (current["version"], current["policy"]["name"]) == (1, "psp_first")

    run(test)


# --- ISO codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"currency": "XYZ"}, "currency", 422),
        ({"currency": "EURO"}, "currency", 422),
        ({"card": {**CARD, "issuer_country": "XX"}}, "card.issuer_country", 422),
        ({"card": {**CARD, "issuer_country": "UK"}}, "card.issuer_country", 422),  # it is GB
        ({"currency": "JPY", "card": {**CARD, "issuer_country": "JP"}}, None, 200),
        ({"currency": "CHF", "card": {**CARD, "issuer_country": "LI"}}, None, 200),
    ],
)
def test_currencies_and_countries_are_iso_codes(
    change: dict[str, Any], field: str | None, status: int
) -> None:
    async def test(r: Router) -> None:
        response = await r.pay(body(**change))
        if field is None:
            assert response.status_code == 200 and response.json()["status"] == "approved"
            return
        assert_problem(response, status, field)
        problem = response.json()["problems"][0]["problem"]
        assert "ISO 4217" in problem or "ISO 3166" in problem
        assert await r.ledger() == []

    run(test)


# --- one error shape -----------------------------------------------------------------------


def test_every_refusal_has_the_one_error_shape() -> None:
    async def test(r: Router) -> None:
        c = r.client
        unauthorised = await c.get("/admin/policy")
        assert_problem(unauthorised, 401, "Authorization")
        assert unauthorised.headers["www-authenticate"] == "Bearer"
        assert_problem(await c.get("/admin/payments", headers={"Authorization": "Bearer x"}), 401)
        assert_problem(await c.get("/no/such/route"), 404, "path")
        assert_problem(await c.get("/v1/payments/pay_nope"), 404, "payment_id")
        wrong_method = await c.get("/v1/payments")
        assert_problem(wrong_method, 405, "method")
        assert "POST" in wrong_method.headers["allow"]
        assert_problem(await c.delete("/healthz"), 405, "method")
        assert_problem(await c.get("/admin/payments?offset=abc", headers=AUTH), 400, "offset")
        assert_problem(await r.pay(body(amount=-1)), 422, "amount")
        assert_problem(await r.pay(b"{not json"), 400, "body")
        assert_problem(await r.pay(b"x" * 20_000), 413, "body")
        missing = await c.post("/v1/payments", json=body())
        assert_problem(missing, 400, "Idempotency-Key")
        big_policy = await c.put("/admin/policy", content=b"x" * 70_000, headers=AUTH)
        assert_problem(big_policy, 413, "body")

    run(test)


# --- the schema ----------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_openapi_lists_every_route_and_real_answers_match_it() -> None:
    async def test(r: Router) -> None:
        response = await r.client.get("/openapi.json")
        assert response.status_code == 200
        schema = response.json()
        served = {
            (path, method.lower())
            for route in r.app.api.routes
            if (path := getattr(route, "path", None)) not in (None, "/openapi.json")
            for method in (getattr(route, "methods", None) or ())
            if method not in ("HEAD", "OPTIONS")
        }
        documented = {(p, m) for p, ops in schema["paths"].items() for m in ops}
        assert ("/v1/payments", "post") in served
        assert served <= documented, served - documented
        post = schema["paths"]["/v1/payments"]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/PaymentRequest"
        )
        assert post["parameters"][0]["name"] == "Idempotency-Key"
        assert {"200", "400", "409", "422", "503"} <= set(post["responses"])
        components = schema["components"]["schemas"]
        assert {"PaymentRequest", "Card", "PaymentAnswer", "Problem"} <= set(components)
        assert "HTTPValidationError" not in components  # FastAPI's {"detail"} shape is gone
        for ref in _refs(schema):
            assert ref.removeprefix("#/components/schemas/") in components, ref
        for ops in schema["paths"].values():
            for op in ops.values():
                assert "4XX" in op["responses"]
        # what the service really answers follows the documentation models (extra=forbid)
        paid = (await r.pay(body())).json()
        PaymentAnswer.model_validate(paid)
        PaymentAnswer.model_validate(
            (await r.client.get(f"/v1/payments/{paid['payment_id']}")).json()
        )
        Health.model_validate((await r.client.get("/healthz")).json())
        PolicyView.model_validate((await r.client.get("/admin/policy", headers=AUTH)).json())
        PaymentsPage.model_validate((await r.client.get("/admin/payments", headers=AUTH)).json())

    run(test)


# --- paging --------------------------------------------------------------------------------


def test_admin_payments_pages_with_clamped_parameters() -> None:
    async def test(r: Router) -> None:
        ids = [(await r.pay(body(f"o-{i}"), key=f"k-{i}")).json()["payment_id"] for i in range(5)]

        async def page(query: str) -> httpx.Response:
            return await r.client.get(f"/admin/payments?{query}", headers=AUTH)

        for huge in (2**100, MAX_OFFSET + 1):
            assert_problem(await page(f"offset={huge}"), 400, "offset")
        assert_problem(await page("offset=-1"), 400, "offset")
        assert_problem(await page("limit=-5"), 400, "limit")
        far = (await page(f"offset={MAX_OFFSET}")).json()
        assert (far["payments"], far["total"], far["offset"]) == ([], 5, MAX_OFFSET)
        clamped = (await page("limit=99999999")).json()
        assert clamped["limit"] == MAX_PAGE and len(clamped["payments"]) == 5
        middle = (await page("offset=1&limit=2")).json()
        assert [p["payment_id"] for p in middle["payments"]] == ids[1:3]
        default = (await page("")).json()
        assert default["limit"] == 1000 and default["offset"] == 0
        assert (await page("limit=0")).json()["payments"] == []

    run(test)


# --- slow clients --------------------------------------------------------------------------


async def _stalled_request(
    app: RouterApp, method: str, path: str, headers: list[tuple[bytes, bytes]]
) -> list[MutableMapping[str, Any]]:
    """Send the headers and half a body, then stall; returns what the app sent back."""
    sent: list[MutableMapping[str, Any]] = []
    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": b'{"amount": 12', "more_body": True}
        await asyncio.Event().wait()  # the rest never comes
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-length", b"400"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=10.0)  # bounded, not timed
    return sent


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/v1/payments", [(b"idempotency-key", b"slow-1")]),
        ("PUT", "/admin/policy", [(b"authorization", f"Bearer {TOKEN}".encode())]),
    ],
)
def test_a_client_stalling_mid_body_gets_408_and_its_connection_closed(
    method: str, path: str, headers: list[tuple[bytes, bytes]]
) -> None:
    async def test(r: Router) -> None:
        sent = await _stalled_request(r.app, method, path, headers)
        start = sent[0]
        assert start["type"] == "http.response.start" and start["status"] == 408
        assert (b"connection", b"close") in [tuple(h) for h in start["headers"]]
        answer = orjson.loads(b"".join(m.get("body", b"") for m in sent[1:]))
        assert answer["error"] == "request_timeout"
        assert answer["problems"][0]["field"] == "body"
        assert await r.ledger() == []

    run(test, body_timeout_s=0.2)


# --- admission control ---------------------------------------------------------------------


def test_payments_above_the_cap_are_shed_with_retry_after_and_nothing_done() -> None:
    async def test(r: Router) -> None:
        first = asyncio.create_task(r.pay(body("o-1"), key="first"))
        for _ in range(200):
            if (await r.client.get("/healthz")).json()["in_flight"] == 1:
                break
            await asyncio.sleep(0.01)
        health = (await r.client.get("/healthz")).json()
        assert (health["in_flight"], health["max_in_flight"]) == (1, 1)
        shed = await r.pay(body("o-2"), key="second")
        assert_problem(shed, 503)
        assert shed.json()["error"] == "overloaded"
        assert shed.headers["retry-after"] == "1"
        duplicate = asyncio.create_task(r.pay(body("o-1"), key="first"))  # a known key: waits
        answer = await first
        replay = await duplicate
        assert answer.status_code == 200 and replay.content == answer.content
        assert replay.headers["idempotent-replayed"] == "true"
        ledger = await r.ledger()
        assert len(ledger) == 1  # the shed payment reached no acquirer
        retried = await r.pay(body("o-2"), key="second")  # ...and claimed no key
        assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
        metrics = (await r.client.get("/metrics")).text
        assert 'routelab_router_rejected_requests_total{reason="overloaded"} 1.0' in metrics
        assert "routelab_router_admission_cap 1.0" in metrics

    run(test, policy="slow", max_in_flight=1)


def test_the_default_cap_is_the_connection_pool_size() -> None:
    async def test(r: Router) -> None:
        health = (await r.client.get("/healthz")).json()
        assert health["max_in_flight"] == 48

    run(test, connections=48)


# --- the pool wait is the router's, not the acquirer's -------------------------------------

PAYMENT = CardPayment(
    "pay_1", 1250, "EUR", "visa", "credit", "DE", "424242", "4242", False, "DE", "order-1"
)


def _pool_case(pool_wait_s: float) -> tuple[Any, Any, dict[str, Any]]:
    async def scenario() -> tuple[Any, Any, dict[str, Any]]:
        scenario = parse_scenario(SCENARIO)
        mock = create_mock(scenario, TOKEN)
        with BackgroundServer(mock) as server:
            transport = AiohttpTransport(server.url, connections=1, pool_wait_s=pool_wait_s)
            await transport.start()
            try:
                slow = IsoConnector("iso_slow", transport)  # holds the only connection 2 s
                fast = PspConnector("psp_ok", transport)
                holder = asyncio.create_task(slow.authorise(PAYMENT, "pay_1-1", 10.0))
                while transport.pool.in_use == 0:
                    await asyncio.sleep(0.005)
                # an attempt timeout shorter than the wait for the pool
                waited = await fast.authorise(PAYMENT, "pay_2-1", 1.0)
                held = await holder
                async with httpx.AsyncClient(base_url=server.url, headers=AUTH) as admin:
                    counters = (await admin.get("/admin/acquirers/psp_ok/counters")).json()
                return waited, held, {"counters": counters, "pool": transport.pool}
            finally:
                await transport.close()

    return asyncio.run(scenario())


def test_waiting_for_a_pooled_connection_is_not_on_the_attempt_clock() -> None:
    waited, held, seen = _pool_case(pool_wait_s=8.0)
    assert held.approved
    assert waited.approved and waited.code == "00"  # waited ~2 s with a 1 s attempt timeout
    assert seen["pool"].waits == 1 and seen["pool"].exhausted == 0


def test_a_pool_wait_past_its_bound_is_the_routers_overload_not_an_acquirer_timeout() -> None:
    waited, held, seen = _pool_case(pool_wait_s=0.3)
    assert held.approved
    assert waited.code == POOL_EXHAUSTED != TIMEOUT_CODE
    assert waited.info.outcome is OutcomeClass.TECHNICAL_ERROR
    assert waited.info.acquirer_side is False  # never counted against the acquirer's score
    assert waited.certain is True  # nothing left the router: nothing to void
    assert waited.info.cascadable is False  # every acquirer shares the exhausted pool
    assert seen["counters"]["requests"] == 0  # the acquirer never saw it
    assert seen["pool"].exhausted == 1
    failure = TransportError(POOL_EXHAUSTED, False, "x", acquirer_side=False)
    assert failure_answer(failure).info.acquirer_side is False


class PoolExhaustedOnce:
    """An in-process transport whose first authorisation finds the pool exhausted."""

    def __init__(self, inner: AsgiTransport) -> None:
        self.inner = inner
        self.refused = 0

    async def post(
        self, path: str, body: bytes, headers: Headers, timeout_s: float
    ) -> TransportResponse:
        if not self.refused and path.endswith("/psp/payments"):
            self.refused += 1
            raise TransportError(POOL_EXHAUSTED, False, "no free connection", acquirer_side=False)
        return await self.inner.post(path, body, headers, timeout_s)

    async def get(self, path: str, timeout_s: float) -> TransportResponse:
        return await self.inner.get(path, timeout_s)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()


def test_a_payment_caught_in_the_routers_overload_does_not_touch_the_scores() -> None:
    async def test(r: Router) -> None:
        overloaded = (await r.pay(body("o-1"), key="k-1")).json()
        assert (overloaded["status"], overloaded["code"]) == ("failed", POOL_EXHAUSTED)
        [attempt] = overloaded["attempts"]  # not cascaded, and nothing to void
        assert attempt["acquirer"] == "psp_ok" and "void" not in attempt
        assert r.app.state.service.router.scores() in ({}, {"visa/False": {}})
        assert await r.ledger() == []
        paid = (await r.pay(body("o-2"), key="k-2")).json()
        assert paid["status"] == "approved" and paid["acquirer"] == "psp_ok"
        scores = r.app.state.service.router.scores()
        assert scores["visa/False"]["psp_ok"] == 1.0  # one success and no failure counted

    async def main() -> None:
        router = Router(policy="sr")
        wrapped = PoolExhaustedOnce(router.transport)
        router.app = create_app(
            router.scenario, TOKEN, transport=wrapped, settings=RouterSettings(policy="sr")
        )
        router.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(router.app), base_url="http://router"
        )
        try:
            await test(router)
        finally:
            await router.close()

    asyncio.run(main())
