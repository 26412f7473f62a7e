"""The routing service in-process: router app and the real mock acquirer app, no sockets.

The scenario below gives every acquirer one deterministic behaviour (always approves,
always 05, always 96, always hangs...), so each test picks a policy that sends its
payment down exactly the path it wants to check, and can read the mock's ledger to
see what really happened at the acquirer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mock_acquirers.app import create_app as create_mock
from router.app import RouterSettings, create_app
from router.idempotency import IdempotencyStore, KeyReusedError, StoredAnswer, StoreFullError
from router.transport import AcquirerTransport, AsgiTransport, TransportError, TransportResponse
from scenarios.loader import parse_scenario

TOKEN = "router-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAST = "latency: {dist: fixed, ms: 5}"
HANG = "latency: {dist: fixed, ms: 5}, timeout_rate: 1.0, hang_ms: 600"
SCENARIO = f"""
name: service
merchant: {{country: DE}}
acquirers:
  - {{name: psp_ok, dialect: psp, {FAST}, approval: {{base: 1.0}}}}
  - {{name: iso_ok, dialect: iso8583, {FAST}, approval: {{base: 1.0}}}}
  - {{name: psp_05, dialect: psp, {FAST}, approval: {{base: 0.0}}, decline_codes: {{"05": 1}}}}
  - {{name: iso_96, dialect: iso8583, {FAST}, technical_error_rate: 1.0, approval: {{base: 1.0}}}}
  - {{name: iso_51, dialect: iso8583, {FAST}, approval: {{base: 0.0}}, decline_codes: {{"51": 1}}}}
  - {{name: iso_hang_ok, dialect: iso8583, {HANG}, approval: {{base: 1.0}}}}
  - {{name: psp_hang_ok, dialect: psp, {HANG}, approval: {{base: 1.0}}}}
  - {{name: psp_hang_no, dialect: psp, {HANG}, approval: {{base: 0.0}}, decline_codes: {{"05": 1}}}}
  - {{name: psp_slow, dialect: psp, latency: {{dist: fixed, ms: 150}}, approval: {{base: 1.0}}}}
traffic:
  duration_s: 600
  arrival: {{profile: constant, rate_per_s: 10}}
  mix: {{networks: {{visa: 1}}, issuer_countries: {{DE: 1}}, currencies: {{EUR: 1}},
        amount: {{dist: fixed, value: 1000}}}}
  issuer_declines: {{base: {{}}}}
policies:
"""
# voids and status inquiries wait at most 0.5 s: the scenario's retry policy sets it
SETTLE = "void_timeout_ms: 500, status_timeout_ms: 500"
QUICK = f"retry: {{max_attempts: 2, attempt_timeout_ms: 250, budget_ms: 3000, {SETTLE}}}"
for _name, _acquirers, _retry in [
    ("psp_first", "[psp_ok, iso_ok]", QUICK),
    ("iso_first", "[iso_ok, psp_ok]", QUICK),
    ("decline_05", "[psp_05, iso_ok]", QUICK),
    ("tech_96", "[iso_96, psp_ok]", QUICK),
    ("funds_51", "[iso_51, psp_ok]", QUICK),
    ("hang_iso", "[iso_hang_ok, psp_ok]", QUICK),
    ("hang_psp", "[psp_hang_ok, iso_ok]", QUICK),
    ("hang_no", "[psp_hang_no, iso_ok]", QUICK),
    (
        "hang_stop",
        "[iso_hang_ok, psp_ok]",
        f"retry: {{attempt_timeout_ms: 250, budget_ms: 3000, on_timeout: stop, {SETTLE}}}",
    ),
    (
        "slow",
        "[psp_slow, iso_ok]",
        f"retry: {{attempt_timeout_ms: 1000, budget_ms: 3000, {SETTLE}}}",
    ),
]:
    SCENARIO += (
        f"  - {{name: {_name}, strategy: {{type: priority}}, default: {_acquirers}, {_retry}}}\n"
    )
SCENARIO += (
    "  - {name: sr, strategy: {type: sr_window, window: 20, exploration: 0.0}, "
    "default: [psp_ok, iso_ok], " + QUICK + "}\n"
)

CARD = {
    "bin": "424242",
    "last4": "4242",
    "network": "visa",
    "type": "credit",
    "issuer_country": "DE",
}


def payment(reference: str = "order-1", **changes: Any) -> dict[str, Any]:
    return {
        "amount": 1250,
        "currency": "EUR",
        "card": dict(CARD),
        "merchant_reference": reference,
        **changes,
    }


class Harness:
    """A router app wired to an in-process mock acquirer app, with clients for both."""

    def __init__(
        self, policy: str, wrap: Callable[[AcquirerTransport], AcquirerTransport] | None = None
    ) -> None:
        self.scenario = parse_scenario(SCENARIO)
        self.mock = create_mock(self.scenario, TOKEN)
        inner = AsgiTransport(self.mock)
        self.transport = wrap(inner) if wrap else inner
        self.app = create_app(
            self.scenario,
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
        self._keys = 0

    async def pay(
        self, body: Mapping[str, Any] | None = None, key: str | None = None
    ) -> httpx.Response:
        if key is None:
            self._keys += 1
            key = f"key-{self._keys}"
        return await self.client.post(
            "/v1/payments", json=body or payment(), headers={"Idempotency-Key": key}
        )

    async def ledger(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = (await self.mock_admin.get("/admin/ledger")).json()[
            "entries"
        ]
        return entries

    async def counters(self, acquirer: str) -> dict[str, Any]:
        data: dict[str, Any] = (
            await self.mock_admin.get(f"/admin/acquirers/{acquirer}/counters")
        ).json()
        return data

    async def book(self) -> list[dict[str, Any]]:
        response = await self.client.get("/admin/payments", headers=AUTH)
        assert response.status_code == 200
        payments: list[dict[str, Any]] = response.json()["payments"]
        return payments

    async def close(self) -> None:
        await self.client.aclose()
        await self.mock_admin.aclose()
        await self.app.state.service.reversals.close()
        await self.transport.close()
        for acquirer in self.mock.acquirers.values():
            acquirer.cancel_pending()


def run(
    policy: str,
    test: Callable[[Harness], Awaitable[None]],
    wrap: Callable[[AcquirerTransport], AcquirerTransport] | None = None,
) -> None:
    async def main() -> None:
        harness = Harness(policy, wrap)
        try:
            await test(harness)
        finally:
            await harness.close()

    asyncio.run(main())


# --- routing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "acquirer", "raw_code"),
    [("psp_first", "psp_ok", "Authorised"), ("iso_first", "iso_ok", "00")],
)
def test_happy_path_in_both_dialects(policy: str, acquirer: str, raw_code: str) -> None:
    async def test(h: Harness) -> None:
        response = await h.pay()
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "approved" and body["acquirer"] == acquirer
        assert (body["code"], body["decline_class"], body["rule"]) == ("00", None, "default")
        assert (body["policy"], body["policy_version"]) == (policy, 1)
        assert [(a["acquirer"], a["code"], a["class"]) for a in body["attempts"]] == [
            (acquirer, "00", "approved")
        ]
        assert body["attempts"][0].get("raw_code", "00") == raw_code
        assert body["latency_ms"] >= body["attempts"][0]["latency_ms"] > 0
        ledger = await h.ledger()
        assert [(e["acquirer"], e["key"], e["status"]) for e in ledger] == [
            (acquirer, f"{body['payment_id']}-1", "approved")
        ]
        assert ledger[0]["bin"] == "424242" and ledger[0]["last4"] == "4242"
        again = await h.client.get(f"/v1/payments/{body['payment_id']}")
        assert again.json() == body
        assert (await h.client.get("/v1/payments/pay_nope")).status_code == 404

    run(policy, test)


@pytest.mark.parametrize(
    ("policy", "first", "code", "klass"),
    [
        ("decline_05", "psp_05", "05", "soft_decline"),
        ("tech_96", "iso_96", "96", "technical_error"),
    ],
)
def test_cascade_on_do_not_honour_and_system_malfunction(
    policy: str, first: str, code: str, klass: str
) -> None:
    async def test(h: Harness) -> None:
        body = (await h.pay()).json()
        assert body["status"] == "approved"
        assert [(a["acquirer"], a["code"], a["class"]) for a in body["attempts"]] == [
            (first, code, klass),
            (body["acquirer"], "00", "approved"),
        ]
        keys = [a["key"] for a in body["attempts"]]
        assert keys == [f"{body['payment_id']}-1", f"{body['payment_id']}-2"]

    run(policy, test)


def test_no_cascade_on_insufficient_funds() -> None:
    async def test(h: Harness) -> None:
        body = (await h.pay()).json()
        assert (body["status"], body["code"], body["decline_class"]) == (
            "declined",
            "51",
            "soft_decline",
        )
        assert [a["acquirer"] for a in body["attempts"]] == ["iso_51"]
        assert (await h.counters("psp_ok"))["requests"] == 0

    run("funds_51", test)


@pytest.mark.parametrize(
    ("policy", "hung", "second"),
    [("hang_iso", "iso_hang_ok", "psp_ok"), ("hang_psp", "psp_hang_ok", "iso_ok")],
)
def test_timeout_voids_the_late_approval_then_cascades(policy: str, hung: str, second: str) -> None:
    async def test(h: Harness) -> None:
        body = (await h.pay()).json()
        assert body["status"] == "approved" and body["acquirer"] == second
        first, last = body["attempts"]
        assert (first["acquirer"], first["code"], first["class"], first["void"]) == (
            hung,
            "68",
            "timeout",
            "voided",
        )
        await asyncio.sleep(0.6)  # the hung attempt completes at the acquirer...
        ledger = {e["key"]: (e["acquirer"], e["status"]) for e in await h.ledger()}
        # ...and its approval is booked already reversed: the card is charged once
        assert ledger == {first["key"]: (hung, "reversed"), last["key"]: (second, "approved")}
        [record] = await h.book()
        assert record["approved_key"] == last["key"] and record["unresolved_keys"] == []

    run(policy, test)


def test_void_of_a_pending_decline_is_confirmed_and_cascades() -> None:
    """A cancel overtaking an attempt still in flight is accepted whatever its outcome,
    as real acquirers do, so the router may cascade at once (as the simulator does)."""

    async def test(h: Harness) -> None:
        body = (await h.pay()).json()
        first, second = body["attempts"]
        assert (first["code"], first["class"], first["void"]) == ("68", "timeout", "voided")
        assert body["status"] == "approved" and second["acquirer"] == body["acquirer"]
        await asyncio.sleep(0.6)  # the hung decline completes at the first acquirer
        ledger = {e["key"]: e["status"] for e in await h.ledger()}
        assert ledger == {second["key"]: "approved"}  # one authorisation, no charge twice
        [record] = await h.book()
        assert record["approved_key"] == second["key"] and record["unresolved_keys"] == []

    run("hang_no", test)


class VoidsFail:
    """Wraps a transport so voids and status inquiries never get through."""

    def __init__(self, inner: AcquirerTransport) -> None:
        self.inner = inner

    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> TransportResponse:
        if path.endswith(("/reversal", "/cancels")):
            raise TransportError("CONN_RESET", True, "void lost")
        return await self.inner.post(path, body, headers, timeout_s)

    async def get(self, path: str, timeout_s: float) -> TransportResponse:
        raise TransportError("CONN_RESET", True, "status inquiry lost")

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()


def test_when_nothing_can_be_confirmed_the_router_stops_and_flags_the_attempt() -> None:
    async def test(h: Harness) -> None:
        body = (await h.pay()).json()
        assert (body["status"], body["decline_class"]) == ("failed", "timeout")
        assert [a["acquirer"] for a in body["attempts"]] == ["iso_hang_ok"]
        assert (await h.counters("psp_ok"))["requests"] == 0
        await asyncio.sleep(0.7)
        # the acquirer did approve: reconciliation finds the flagged key in its ledger
        [entry] = await h.ledger()
        [record] = await h.book()
        assert record["unresolved_keys"] == [entry["key"]] == [body["attempts"][0]["key"]]
        assert record["status"] == "failed" and record["approved_key"] is None

    run("hang_iso", test, wrap=VoidsFail)


def test_on_timeout_stop_still_voids_in_the_background() -> None:
    async def test(h: Harness) -> None:
        body = (await h.pay()).json()
        assert (body["status"], [a["acquirer"] for a in body["attempts"]]) == (
            "failed",
            ["iso_hang_ok"],
        )
        for _ in range(30):
            await asyncio.sleep(0.1)
            if not (await h.book())[0]["unresolved_keys"]:
                break
        assert [e["status"] for e in await h.ledger()] in ([], ["reversed"])
        assert (await h.book())[0]["attempts"][0]["void"] == "late_voided"

    run("hang_stop", test)


@pytest.mark.parametrize(
    ("kind", "code"), [("http_503", "HTTP_503"), ("reset", "CONN_RESET"), ("malformed", "BAD_BODY")]
)
def test_http_faults_cascade_as_technical_errors(kind: str, code: str) -> None:
    async def test(h: Harness) -> None:
        await h.mock_admin.post("/admin/acquirers/psp_ok/faults", json={"kind": kind, "rate": 1.0})
        body = (await h.pay()).json()
        assert body["status"] == "approved" and body["acquirer"] == "iso_ok"
        first = body["attempts"][0]
        assert (first["acquirer"], first["code"], first["class"]) == (
            "psp_ok",
            code,
            "technical_error",
        )
        ledger = {e["key"]: e["status"] for e in await h.ledger()}
        assert ledger.get(body["attempts"][1]["key"]) == "approved"
        assert ledger.get(first["key"]) in (None, "reversed")  # a damaged answer was voided

    run("psp_first", test)


def test_reconciliation_under_faults_every_approval_belongs_to_exactly_one_payment() -> None:
    async def test(h: Harness) -> None:
        for kind, rate in (
            ("http_503", 0.2),
            ("reset", 0.15),
            ("late_approval", 0.25),
            ("truncated", 0.15),
        ):
            await h.mock_admin.post(
                "/admin/acquirers/psp_ok/faults", json={"kind": kind, "rate": rate, "delay_ms": 400}
            )
        answers = await asyncio.gather(*(h.pay(payment(f"order-{i}")) for i in range(40)))
        bodies = [a.json() for a in answers]
        assert all(a.status_code == 200 for a in answers)
        assert len({b["payment_id"] for b in bodies}) == 40
        await asyncio.sleep(0.5)  # late approvals land at the acquirer
        book = await h.book()
        approved_keys = {p["approved_key"] for p in book if p["status"] == "approved"}
        charged = [e["key"] for e in await h.ledger() if e["status"] == "approved"]
        assert sorted(charged) == sorted(approved_keys)  # no double charge, no lost approval
        assert sum(b["status"] == "approved" for b in bodies) == len(approved_keys)
        assert any(len(b["attempts"]) == 2 for b in bodies)  # the faults did bite

    run("psp_first", test)


# --- idempotency -------------------------------------------------------------------------


def test_same_key_and_body_replays_the_stored_answer() -> None:
    async def test(h: Harness) -> None:
        first = await h.pay(key="order-1-attempt")
        replay = await h.pay(key="order-1-attempt")
        assert replay.status_code == 200 and replay.content == first.content
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert (await h.counters("psp_ok"))["requests"] == 1
        conflict = await h.pay(payment(amount=999), key="order-1-attempt")
        assert conflict.status_code == 409
        assert conflict.json()["problems"][0]["field"] == "Idempotency-Key"

    run("psp_first", test)


def test_concurrent_duplicates_wait_for_the_first_and_authorise_once() -> None:
    async def test(h: Harness) -> None:
        answers = await asyncio.gather(*(h.pay(key="dup") for _ in range(6)))
        assert len({a.content for a in answers}) == 1
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 5
        assert (await h.counters("psp_slow"))["requests"] == 1
        assert len(await h.ledger()) == 1

    run("slow", test)


# --- bad requests ------------------------------------------------------------------------

PAN = "4242424242424242"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (payment(card={**CARD, "bin": "4242"}), 422, "card.bin"),
        (payment(card={**CARD, "bin": PAN}), 422, "card.bin"),
        (payment(card={**CARD, "number": PAN}), 422, "card.number"),
        (payment(amount=-5), 422, "amount"),
        (payment(amount=12.5), 422, "amount"),
        (payment(currency="eur"), 422, "currency"),
        (payment(reference=f"order {PAN}"), 422, "merchant_reference"),
        ({"amount": 1250, "currency": "EUR"}, 422, "card"),
        (b"{not json", 400, "body"),
    ],
)
def test_bad_requests_are_refused_readably_without_echoing_card_data(
    body: dict[str, Any] | bytes, status: int, field: str
) -> None:
    async def test(h: Harness) -> None:
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        response = await h.client.post(
            "/v1/payments",
            content=content,
            headers={"Idempotency-Key": "k-1", "content-type": "application/json"},
        )
        assert response.status_code == status
        problems = response.json()["problems"]
        assert field in [p["field"] for p in problems]
        assert all(p["problem"] for p in problems)
        assert PAN not in response.text
        assert (await h.counters("psp_ok"))["requests"] == 0
        # a refused request does not use up its key
        assert (await h.pay(key="k-1")).json()["status"] == "approved"

    run("psp_first", test)


def test_missing_idempotency_key() -> None:
    async def test(h: Harness) -> None:
        response = await h.client.post("/v1/payments", json=payment())
        assert response.status_code == 400
        assert response.json()["problems"][0]["field"] == "Idempotency-Key"

    run("psp_first", test)


# --- admin: policy hot swap, payments -----------------------------------------------------


def test_policy_hot_swap_valid_then_invalid() -> None:
    async def test(h: Harness) -> None:
        assert (await h.client.get("/admin/policy")).status_code == 401
        assert (
            await h.client.get("/admin/policy", headers={"Authorization": "Bearer wrong"})
        ).status_code == 401
        current = (await h.client.get("/admin/policy", headers=AUTH)).json()
        assert (current["version"], current["policy"]["name"]) == (1, "slow")
        in_flight = asyncio.create_task(h.pay())  # on the old policy, 150 ms at psp_slow
        await asyncio.sleep(0.05)
        new = {"name": "iso_now", "strategy": {"type": "priority"}, "default": ["iso_ok", "psp_ok"]}
        swapped = await h.client.put("/admin/policy", json=new, headers=AUTH)
        assert swapped.status_code == 200 and swapped.json()["version"] == 2
        old_body = (await in_flight).json()
        assert (old_body["acquirer"], old_body["policy_version"]) == ("psp_slow", 1)
        body = (await h.pay()).json()
        assert (body["acquirer"], body["policy"], body["policy_version"]) == (
            "iso_ok",
            "iso_now",
            2,
        )
        bad = {"name": "broken", "strategy": {"type": "priority"}, "default": ["acq_nope"]}
        refused = await h.client.put("/admin/policy", json=bad, headers=AUTH)
        assert refused.status_code == 422
        problems = refused.json()["problems"]
        assert problems[0]["field"] == "default[0]"
        assert "unknown acquirer 'acq_nope'" in problems[0]["problem"]
        typo = await h.client.put("/admin/policy", headers=AUTH, json={**new, "stratgy": {}})
        assert typo.status_code == 422 and "stratgy" in typo.text
        assert (await h.client.put("/admin/policy", json=new)).status_code == 401
        assert (await h.client.get("/admin/policy", headers=AUTH)).json()["version"] == 2
        body = (await h.pay()).json()
        assert (body["acquirer"], body["policy_version"]) == ("iso_ok", 2)

    run("slow", test)


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_exposition_has_the_expected_series() -> None:
    async def test(h: Harness) -> None:
        for _ in range(5):
            assert (await h.pay()).json()["status"] == "approved"
        await h.pay(payment(amount=-1))
        response = await h.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        samples = _samples(response.text)
        L = frozenset  # noqa: N806  (a label set reads best short)
        assert (
            samples[
                (
                    "routelab_router_payments_total",
                    L({("outcome", "approved"), ("acquirer", "psp_ok")}),
                )
            ]
            == 5
        )
        assert (
            samples[
                (
                    "routelab_router_attempts_total",
                    L({("acquirer", "psp_ok"), ("class", "approved")}),
                )
            ]
            == 5
        )
        assert (
            samples[("routelab_router_payment_latency_seconds_count", L({("outcome", "approved")}))]
            == 5
        )
        assert (
            samples[("routelab_router_attempt_latency_seconds_count", L({("acquirer", "psp_ok")}))]
            == 5
        )
        assert (
            samples[
                (
                    "routelab_router_strategy_score",
                    L({("segment", "visa/False"), ("acquirer", "psp_ok")}),
                )
            ]
            == 1.0
        )
        assert samples[("routelab_router_policy_version", L({("policy", "sr")}))] == 1
        assert (
            samples[("routelab_router_rejected_requests_total", L({("reason", "invalid_request")}))]
            == 1
        )
        health = (await h.client.get("/healthz")).json()
        assert health["status"] == "ok" and health["policy"] == "sr"

    run("sr", test)


# --- bounded memory: key expiry and record eviction ---------------------------------------


def test_idempotency_keys_expire_after_their_ttl_but_never_while_in_flight() -> None:
    async def scenario() -> None:
        now = [0.0]
        store = IdempotencyStore(ttl_s=60.0, max_entries=3, clock=lambda: now[0])
        first = store.claim("a", b"fp-a")
        assert first.first and not store.claim("a", b"fp-a").first
        with pytest.raises(KeyReusedError):
            store.claim("a", b"fp-other")
        now[0] = 120.0
        second = store.claim("b", b"fp-b")
        assert len(store) == 2  # "a" is past its TTL but still routing: kept
        first.answer.set_result(StoredAnswer("pay_a", b"{}"))
        third = store.claim("c", b"fp-c")
        assert len(store) == 2  # now "a" is gone...
        again = store.claim("a", b"fp-new")
        assert again.first  # ...and its key may start a new payment
        second.answer.set_result(StoredAnswer("pay_b", b"{}"))
        third.answer.set_result(StoredAnswer("pay_c", b"{}"))
        # full of keys inside their retention: a new key is refused, none is forgotten
        now[0] = 150.0
        with pytest.raises(StoreFullError) as full:
            store.claim("d", b"fp-d")
        assert full.value.status == 503
        assert full.value.retry_after_s == 30  # "b" (created at 120) leaves at 180
        assert dict(full.value.headers)[b"retry-after"] == b"30"
        assert len(store) == 3
        assert not store.claim("b", b"fp-b").first  # every held key still replays
        assert store.replays("b") and not store.replays("d")
        now[0] = 180.5  # "b", "c" and the new "a" (all created at 120) are past retention
        assert store.claim("d", b"fp-d").first
        assert len(store) == 2 and store.replays("a")  # but the new "a" is still routing
        again.answer.set_result(StoredAnswer("pay_a2", b"{}"))
        assert store.claim("e", b"fp-e").first
        assert len(store) == 2 and not store.replays("a") and not store.replays("b")

    asyncio.run(scenario())


def test_payment_book_keeps_the_newest_and_counts_what_it_dropped() -> None:
    async def test(h: Harness) -> None:
        h.app.state.service.router.book.max_payments = 3
        ids = [(await h.pay(payment(f"o-{i}"))).json()["payment_id"] for i in range(5)]
        response = await h.client.get("/admin/payments?offset=1&limit=1", headers=AUTH)
        data = response.json()
        assert (data["total"], data["evicted"], data["offset"]) == (3, 2, 1)
        assert [p["payment_id"] for p in data["payments"]] == ids[3:4]
        assert (await h.client.get(f"/v1/payments/{ids[0]}")).status_code == 404
        assert (await h.client.get(f"/v1/payments/{ids[4]}")).status_code == 200

    run("psp_first", test)
