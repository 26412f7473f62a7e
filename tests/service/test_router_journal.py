"""The payment journal wired in, in-process: a router restarted on its journal remembers.

Each test runs one or two router apps (the lifespan started by hand, as uvicorn does)
on one journal file and one in-process mock acquirer app that outlives them, the way
the mocks outlive a router crash in ``routelab serve``. A crash is an app abandoned
mid-payment: its task hangs in the transport after the authorisation reached the
acquirer, so nothing more of it is written, and a second app opens the same file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mock_acquirers.app import create_app as create_mock
from router.app import RouterApp, RouterSettings, create_app
from router.journal import SqliteJournal
from router.transport import AsgiTransport, Headers, TransportResponse
from scenarios.loader import parse_scenario
from scenarios.schema import Scenario

TOKEN = "journal-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCENARIO = """
name: journal
merchant: {country: DE}
acquirers:
  - {name: iso_ok, dialect: iso8583, latency: {dist: fixed, ms: 5}, approval: {base: 1.0}}
  - {name: psp_ok, dialect: psp, latency: {dist: fixed, ms: 5}, approval: {base: 1.0}}
  - {name: psp_05, dialect: psp, latency: {dist: fixed, ms: 5}, approval: {base: 0.0},
     decline_codes: {"05": 1}}
traffic:
  duration_s: 600
  arrival: {profile: constant, rate_per_s: 10}
  mix: {networks: {visa: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
  issuer_declines: {base: {}}
policies:
  - name: iso_first
    strategy: {type: priority}
    default: [iso_ok, psp_ok]
    retry: {max_attempts: 2, attempt_timeout_ms: 500, budget_ms: 3000,
            void_timeout_ms: 500, status_timeout_ms: 500}
  - name: decline_first
    strategy: {type: priority}
    default: [psp_05, iso_ok]
    retry: {max_attempts: 2, attempt_timeout_ms: 500, budget_ms: 3000,
            void_timeout_ms: 500, status_timeout_ms: 500}
"""
AUTHORISE_PATHS = ("/iso/authorise", "/psp/payments")


def payment(reference: str = "order-1") -> dict[str, Any]:
    return {
        "amount": 1250,
        "currency": "EUR",
        "merchant_reference": reference,
        "card": {
            "bin": "424242",
            "last4": "4242",
            "network": "visa",
            "type": "credit",
            "issuer_country": "DE",
        },
    }


class DiesAfterSending:
    """A transport whose router 'dies' once an authorisation has reached the acquirer:
    the call never returns (nothing after it runs, nothing more is journaled)."""

    def __init__(self, inner: AsgiTransport, after: int = 1) -> None:
        self.inner = inner
        self.after = after  # authorisations that come back normally first
        self.sent = asyncio.Event()

    async def post(
        self, path: str, body: bytes, headers: Headers, timeout_s: float
    ) -> TransportResponse:
        if not path.endswith(AUTHORISE_PATHS):
            return await self.inner.post(path, body, headers, timeout_s)
        answer = await self.inner.post(path, body, headers, timeout_s)
        self.after -= 1
        if self.after > 0:
            return answer
        self.sent.set()
        await asyncio.Event().wait()  # the process is gone
        raise AssertionError("unreachable")

    async def get(self, path: str, timeout_s: float) -> TransportResponse:
        return await self.inner.get(path, timeout_s)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self.inner.close()


class Node:
    """One router 'process' on the journal at ``path``."""

    def __init__(
        self, scenario: Scenario, transport: Any, path: Path, policy: str = "iso_first"
    ) -> None:
        settings = RouterSettings(policy=policy, journal_path=str(path), late_check_horizon_s=5.0)
        self.app: RouterApp = create_app(scenario, TOKEN, transport=transport, settings=settings)
        self.service = self.app.state.service
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.app), base_url="http://router"
        )

    async def pay(self, key: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.client.post(
            "/v1/payments", json=body or payment(), headers={"Idempotency-Key": key}
        )

    async def book(self) -> list[dict[str, Any]]:
        payments: list[dict[str, Any]] = (
            await self.client.get("/admin/payments", headers=AUTH)
        ).json()["payments"]
        return payments

    async def settled(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.service.recovery.recovering or self.service.reversals.pending:
            assert time.monotonic() < deadline, "recovery did not finish"
            await asyncio.sleep(0.02)


def run(test: Callable[[Scenario, Any, httpx.AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        scenario = parse_scenario(SCENARIO)
        mock = create_mock(scenario, TOKEN)
        ledger = httpx.AsyncClient(
            transport=httpx.ASGITransport(mock), base_url="http://mock", headers=AUTH
        )
        try:
            await test(scenario, mock, ledger)
        finally:
            await ledger.aclose()
            for acquirer in mock.acquirers.values():
                acquirer.cancel_pending()

    asyncio.run(main())


async def entries(ledger: httpx.AsyncClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await ledger.get("/admin/ledger")).json()["entries"]
    return found


def test_a_restarted_router_replays_every_key_byte_for_byte_and_authorises_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"

    async def test(scenario: Scenario, mock: Any, ledger: httpx.AsyncClient) -> None:
        first = Node(scenario, AsgiTransport(mock), path)
        await first.service.start()
        answers = {f"k-{i}": await first.pay(f"k-{i}", payment(f"order-{i}")) for i in range(5)}
        await first.service.stop()
        before = await entries(ledger)
        assert len(before) == 5 and all(e["status"] == "approved" for e in before)

        second = Node(scenario, AsgiTransport(mock), path)
        await second.service.start()
        try:
            for key, answer in answers.items():
                again = await second.pay(key, payment(f"order-{key[2:]}"))
                assert again.status_code == 200
                assert again.content == answer.content  # the first answer, byte for byte
                assert again.headers["idempotent-replayed"] == "true"
            assert await entries(ledger) == before  # not one authorisation more
            book = await second.book()  # the book came back too, for reconciliation
            assert sorted(p["approved_key"] for p in book) == sorted(e["key"] for e in before)
            assert {p["merchant_reference"] for p in book} == {f"order-{i}" for i in range(5)}
            reused = await second.pay("k-0", payment("another order"))
            assert reused.status_code == 409
            assert reused.json()["error"] == "idempotency_key_reused"
        finally:
            await second.service.stop()

    run(test)


def test_an_attempt_left_open_by_a_crash_is_voided_before_the_key_gets_its_final_answer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"

    async def test(scenario: Scenario, mock: Any, ledger: httpx.AsyncClient) -> None:
        dying = DiesAfterSending(AsgiTransport(mock))
        crashed = Node(scenario, dying, path)
        await crashed.service.start()
        in_flight = asyncio.create_task(crashed.pay("crash-1"))
        await asyncio.wait_for(dying.sent.wait(), 5.0)
        await asyncio.sleep(0.05)  # the acquirer books its approval
        (held,) = await entries(ledger)
        assert held["status"] == "approved"  # an approval the router never saw

        restarted = Node(scenario, AsgiTransport(mock), path)
        await restarted.service.start()
        try:
            early = await restarted.pay("crash-1")
            if early.status_code == 409:  # still settling: in progress, come back later
                assert early.json()["error"] == "payment_in_progress"
                assert int(early.headers["retry-after"]) >= 1
            await restarted.settled()
            final = await restarted.pay("crash-1")
            assert final.status_code == 200, final.text
            body = final.json()
            assert body["status"] == "failed" and body["recovered"] is True
            (attempt,) = body["attempts"]
            assert attempt["key"] == held["key"]  # the journaled acquirer-side key
            assert attempt["void"] == "late_voided"
            (after,) = await entries(ledger)
            assert after["status"] == "reversed"  # the card is not charged
            assert (await restarted.pay("crash-1")).content == final.content
            (record,) = await restarted.book()
            assert record["status"] == "failed" and record["unresolved_keys"] == []
        finally:
            await restarted.service.stop()
            in_flight.cancel()
            await asyncio.gather(in_flight, return_exceptions=True)
            await crashed.service.journal.close()

    run(test)


def test_a_cascade_journaled_before_the_crash_keeps_its_decline_and_settles_the_second_attempt(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"

    async def test(scenario: Scenario, mock: Any, ledger: httpx.AsyncClient) -> None:
        dying = DiesAfterSending(AsgiTransport(mock), after=2)  # 05 comes back, then death
        crashed = Node(scenario, dying, path, policy="decline_first")
        await crashed.service.start()
        in_flight = asyncio.create_task(crashed.pay("cascade-1"))
        await asyncio.wait_for(dying.sent.wait(), 5.0)
        await asyncio.sleep(0.05)
        restarted = Node(scenario, AsgiTransport(mock), path, policy="decline_first")
        await restarted.service.start()
        try:
            await restarted.settled()
            body = (await restarted.pay("cascade-1")).json()
            assert body["status"] == "failed" and body["recovered"] is True
            first, second = body["attempts"]
            assert (first["acquirer"], first["code"]) == ("psp_05", "05")
            assert second["acquirer"] == "iso_ok" and second["void"] == "late_voided"
            assert [e["status"] for e in await entries(ledger)] == ["reversed"]
        finally:
            await restarted.service.stop()
            in_flight.cancel()
            await asyncio.gather(in_flight, return_exceptions=True)
            await crashed.service.journal.close()

    run(test)


def test_an_approval_journaled_but_never_answered_is_answered_approved_after_the_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"

    async def write() -> None:
        journal = SqliteJournal(path)
        journal.payment_started(
            "pay_a", "k-approved", _fingerprint(), "default", ["iso_ok"], _details()
        )
        journal.attempt_sent("pay_a", 1, "iso_ok", "pay_a-1")
        journal.attempt_answered("pay_a", 1, "00", "approved", True)
        await journal.flush()  # and then the crash, before payment_finished
        await journal.close()

    async def test(scenario: Scenario, mock: Any, ledger: httpx.AsyncClient) -> None:
        await write()
        node = Node(scenario, AsgiTransport(mock), path)
        await node.service.start()
        try:
            await node.settled()
            answer = await node.pay("k-approved")
            body = answer.json()
            assert (body["status"], body["code"], body["recovered"]) == ("approved", "00", True)
            assert body["attempts"][0]["key"] == "pay_a-1"
            (record,) = await node.book()
            assert record["approved_key"] == "pay_a-1" and record["amount"] == 1250
            counters = (await ledger.get("/admin/counters")).json()
            assert all(c["requests"] == 0 and c["reversals"] == 0 for c in counters.values())
        finally:
            await node.service.stop()

    run(test)


def test_keys_are_kept_by_time_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    day = 86_400.0

    async def write() -> None:
        for key, age_s in (("k-23h", day - 3600.0), ("k-25h", day + 3600.0)):
            journal = SqliteJournal(path, clock=lambda a=age_s: time.time() - a)  # type: ignore[misc]
            pid = f"pay_{key}"
            journal.payment_started(pid, key, _fingerprint(), "default", ["iso_ok"], _details())
            journal.attempt_sent(pid, 1, "iso_ok", f"{pid}-1")
            journal.attempt_answered(pid, 1, "00", "approved", True)
            journal.payment_finished(pid, "approved", 200, b'{"status":"approved","old":1}')
            await journal.flush()
            await journal.close()

    async def test(scenario: Scenario, mock: Any, ledger: httpx.AsyncClient) -> None:
        await write()
        node = Node(scenario, AsgiTransport(mock), path)
        await node.service.start()
        try:
            kept = await node.pay("k-23h")
            assert kept.content == b'{"status":"approved","old":1}'  # inside its retention
            expired = await node.pay("k-25h")
            assert expired.json()["status"] == "approved" and "old" not in expired.json()
            assert len(await entries(ledger)) == 1  # only the expired key was routed anew
        finally:
            await node.service.stop()

    run(test)


def test_a_full_journal_refuses_with_retry_after_keeps_the_key_free_and_makes_room(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"

    async def write_old() -> None:  # two payments past their retention, not yet purged
        journal = SqliteJournal(path, clock=lambda: time.time() - 90_000.0)
        for i in range(2):
            pid = f"pay_old{i}"
            journal.payment_started(pid, f"old-{i}", _fingerprint(), "default", ["iso_ok"])
            journal.payment_finished(pid, "declined", 200, b"{}")
        await journal.flush()
        await journal.close()

    async def test(scenario: Scenario, mock: Any, ledger: httpx.AsyncClient) -> None:
        await write_old()
        settings = RouterSettings(policy="iso_first", journal_path=str(path), max_payments=2)
        app = create_app(scenario, TOKEN, transport=AsgiTransport(mock), settings=settings)
        service = app.state.service
        await service.start()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://r")
        try:
            full = await client.post(
                "/v1/payments", json=payment(), headers={"Idempotency-Key": "new-1"}
            )
            assert full.status_code == 503, full.text
            assert full.json()["error"] == "journal_full"
            assert int(full.headers["retry-after"]) >= 1
            assert await entries(ledger) == []  # nothing attempted
            # the refusal purged what was past its retention: the same key now goes through
            deadline = time.monotonic() + 5.0
            while (
                again := await client.post(
                    "/v1/payments", json=payment(), headers={"Idempotency-Key": "new-1"}
                )
            ).status_code == 503:
                assert time.monotonic() < deadline, again.text
                await asyncio.sleep(0.02)
            assert again.status_code == 200 and again.json()["status"] == "approved"
            assert "idempotent-replayed" not in again.headers  # routed, not a replay
            assert len(await entries(ledger)) == 1
        finally:
            await client.aclose()
            await service.stop()

    run(test)


def test_every_step_is_journaled_and_the_attempt_is_durable_before_it_is_sent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"
    seen_at_send: list[tuple[Any, ...]] = []

    class Peek(AsgiTransport):
        async def post(
            self, path_: str, body: bytes, headers: Headers, timeout_s: float
        ) -> TransportResponse:
            if path_.endswith(AUTHORISE_PATHS):  # what another process reads right now
                with sqlite3.connect(path) as db:
                    seen_at_send.extend(db.execute("SELECT payment_id, attempt FROM attempts"))
            return await super().post(path_, body, headers, timeout_s)

    async def test(scenario: Scenario, mock: Any, ledger: httpx.AsyncClient) -> None:
        node = Node(scenario, Peek(mock), path, policy="decline_first")
        await node.service.start()
        answer = (await node.pay("steps-1")).json()
        await node.service.stop()
        pid = answer["payment_id"]
        assert seen_at_send == [(pid, 1), (pid, 1), (pid, 2)]
        with sqlite3.connect(path) as db:
            (status, http, response) = db.execute(
                "SELECT status, http_status, response FROM payments WHERE payment_id = ?", (pid,)
            ).fetchone()
            attempts = db.execute(
                "SELECT attempt, acquirer, key, code, certain, resolved FROM attempts "
                "WHERE payment_id = ? ORDER BY attempt",
                (pid,),
            ).fetchall()
        assert (status, http) == ("approved", 200) and orjson.loads(response) == answer
        assert attempts == [
            (1, "psp_05", f"{pid}-1", "05", 1, 1),
            (2, "iso_ok", f"{pid}-2", "00", 1, 1),
        ]

    run(test)


def _fingerprint() -> bytes:
    from router.payment_request import PaymentRequest

    return PaymentRequest.model_validate(payment()).fingerprint()


def _details() -> dict[str, Any]:
    return {
        "amount": 1250,
        "currency": "EUR",
        "merchant_reference": "order-1",
        "policy": "iso_first",
        "policy_version": 1,
    }


@pytest.mark.parametrize("flag", ["--journal"])
def test_the_router_cli_refuses_a_journal_path_it_cannot_use(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from router.server import main

    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not sqlite " * 100)
    assert main(["--scenario", "baseline", flag, str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"--journal {bad}: file is not a database"]
    assert main(["--scenario", "baseline", flag, str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
