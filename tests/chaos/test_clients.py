"""Hostile clients: slow ones holding connections, and duplicates racing for one key.

Slow clients: hundreds of connections that send half a body, half a request head, or
nothing at all. Each is cut by the router within its deadline (``--body-timeout`` for
the head, then for the body), the router's memory and open files come back to where
they were, and a real payment goes through afterwards.

Races: 50 requests under one Idempotency-Key at once, several rounds: one
authorisation per round at the acquirer, 50 identical answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import aiohttp
import httpx
import orjson
import psutil
import pytest
from chaos_kit import body, figure, ledger, reconciled

from runtime.stack import Stack, start_stack

SCENARIO = """
name: clients
merchant: {country: DE}
acquirers:
  - {name: acq_x, dialect: psp, latency: {dist: fixed, ms: 30}, approval: {base: 1.0}}
traffic:
  duration_s: 3600
  arrival: {profile: constant, rate_per_s: 10}
  mix: {networks: {visa: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
  issuer_declines: {base: {}}
policies:
  - {name: only, strategy: {type: priority}, default: [acq_x]}
"""
DEADLINE_S = 1.0
MAX_CONNECTIONS = 256
PER_KIND = 200  # connections of each slow kind: 600 in all, over the cap


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("clients")
    scenario = folder / "clients.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    args = ["--body-timeout", str(DEADLINE_S), "--max-connections", str(MAX_CONNECTIONS)]
    with start_stack(
        scenario, log_dir=folder / "logs", journal=folder / "journal.sqlite", router_args=args
    ) as running:
        yield running


def _pay(stack: Stack, key: str, i: int) -> httpx.Response:
    return httpx.post(
        stack.router_url + "/v1/payments",
        content=orjson.dumps(body(i, "slow")),
        headers={"Idempotency-Key": key, "content-type": "application/json"},
        timeout=10.0,
    )


def test_slow_clients_are_cut_within_their_deadline_and_leave_nothing_behind(
    stack: Stack,
) -> None:
    assert stack.router is not None
    router = psutil.Process(stack.router.process.pid)
    assert _pay(stack, "slow-warm", 0).status_code == 200
    rss_before, files_before = router.memory_info().rss, router.num_fds()
    host, port = stack.router_url.removeprefix("http://").split(":")
    payload = orjson.dumps(body(1, "slow"))
    head = (
        b"POST /v1/payments HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\n"
        b"Idempotency-Key: slow-%d\r\nContent-Length: %d\r\n\r\n"
    )
    sockets: list[tuple[str, socket.socket]] = []
    opened = time.monotonic()
    try:
        for n in range(PER_KIND):
            for kind in ("body", "head", "idle"):
                sock = socket.create_connection((host, int(port)), timeout=10.0)
                if kind == "body":
                    sock.sendall(head % (n, len(payload)) + payload[:20])
                elif kind == "head":
                    sock.sendall(b"POST /v1/payments HTTP/1.1\r\nHost: rou")
                sockets.append((kind, sock))
        # while they are held, the router still answers (503 above the connection cap)
        held = _pay(stack, "slow-during", 2).status_code
        assert held in (200, 503)
        cut: dict[str, list[float]] = {"body": [], "head": [], "idle": []}
        for kind, sock in sockets:
            data = b""
            with contextlib.suppress(ConnectionResetError, TimeoutError):
                while chunk := sock.recv(65536):
                    data += chunk
            cut[kind].append(time.monotonic() - opened)
            if kind == "body":  # an answer may come first: 408, or 503 above the cap
                assert data == b"" or data.startswith((b"HTTP/1.1 408", b"HTTP/1.1 503")), data
            else:
                assert data == b"" or data.startswith(b"HTTP/1.1 503"), data[:100]
    finally:
        for _, sock in sockets:
            sock.close()
    slowest = max(max(times) for times in cut.values())
    # each is cut after its deadline (twice for a body: its head had one too), plus the
    # time to open them all and a loaded machine's slack
    assert slowest <= 2 * DEADLINE_S + 5.0, slowest
    time.sleep(0.5)
    assert _pay(stack, "slow-after", 3).status_code == 200
    rss_growth_mb = (router.memory_info().rss - rss_before) / 2**20
    files_after = router.num_fds()
    assert files_after <= files_before + 16, (files_before, files_after)
    assert rss_growth_mb <= 32.0
    entries = [
        e for e in ledger(stack.acquirers_url, stack.admin_token) if "slow-order-1" in str(e)
    ]
    assert entries == []  # no half-sent payment went anywhere
    figure(
        f"slow clients: {3 * PER_KIND} connections (half bodies, half heads, silent) against "
        f"--max-connections {MAX_CONNECTIONS}, --body-timeout {DEADLINE_S:g}: all cut, the "
        f"last {slowest:.1f} s after they were opened; router RSS {rss_growth_mb:+.1f} MB, "
        f"open files {files_before} -> {files_after}; a payment during: {held}, after: 200"
    )


def test_concurrent_duplicates_authorise_once_per_key(stack: Stack) -> None:
    rounds, duplicates = 5, 50

    async def race(key: str, i: int) -> list[tuple[int, bytes, str | None]]:
        data = orjson.dumps(body(i, "race"))
        connector = aiohttp.TCPConnector(limit=duplicates)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one() -> tuple[int, bytes, str | None]:
                async with session.post(
                    stack.router_url + "/v1/payments",
                    data=data,
                    headers={"Idempotency-Key": key, "Content-Type": "application/json"},
                ) as response:
                    return (
                        response.status,
                        await response.read(),
                        response.headers.get("Idempotent-Replayed"),
                    )

            return list(await asyncio.gather(*(one() for _ in range(duplicates))))

    for n in range(rounds):
        answers = asyncio.run(race(f"race-{n}", n))
        assert {status for status, _, _ in answers} == {200}
        assert len({content for _, content, _ in answers}) == 1  # byte for byte the same
        assert sum(replayed == "true" for _, _, replayed in answers) == duplicates - 1
    approvals = [
        e
        for e in ledger(stack.acquirers_url, stack.admin_token)
        if str(e.get("reference", "")).startswith("race-")
    ]
    assert len(approvals) == rounds  # one authorisation per key
    result = reconciled(stack.router_url, stack.acquirers_url, stack.admin_token, "race")
    figure(
        f"idempotency races: {rounds} rounds of {duplicates} concurrent duplicates -> "
        f"{len(approvals)} authorisations ({result.matched} matched), identical answers"
    )
