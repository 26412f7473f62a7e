"""The router's limits on real sockets: slow clients are cut off, connections are capped.

A real router process (uvicorn, httptools) behind raw sockets, because what matters
here happens below HTTP clients: a body that never finishes, connections left open.
Each wait is bounded; the assertions are on what the server does, not on how fast.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import httpx
import pytest

from runtime.stack import Stack, start_stack

pytestmark = pytest.mark.e2e

SCENARIO = """
name: limits
merchant: {country: DE}
acquirers:
  - {name: acq_x, dialect: psp, latency: {dist: fixed, ms: 5}, approval: {base: 1.0}}
traffic:
  duration_s: 60
  arrival: {profile: constant, rate_per_s: 10}
  mix: {networks: {visa: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
  issuer_declines: {base: {}}
policies:
  - {name: only, strategy: {type: priority}, default: [acq_x]}
"""
MAX_CONNECTIONS = 16
PAYMENT = (
    b'{"amount": 1250, "currency": "EUR", "merchant_reference": "order-1", "card": '
    b'{"bin": "424242", "last4": "4242", "network": "visa", "type": "credit", '
    b'"issuer_country": "DE"}}'
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("limits")
    scenario = folder / "limits.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    args = ["--body-timeout", "0.5", "--max-connections", str(MAX_CONNECTIONS)]
    with start_stack(scenario, log_dir=folder / "logs", router_args=args) as running:
        yield running


def _connect(stack: Stack) -> socket.socket:
    host, port = stack.router_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10.0)  # bounded reads
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (or the socket timeout)."""
    chunks = []
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_clients_stalling_mid_body_get_408_and_are_disconnected(stack: Stack) -> None:
    stalled = []
    for i in range(8):
        sock = _connect(stack)
        sock.sendall(
            b"POST /v1/payments HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\n"
            + f"Idempotency-Key: stall-{i}\r\nContent-Length: {len(PAYMENT)}\r\n\r\n".encode()
            + PAYMENT[:40]  # and the rest never comes
        )
        stalled.append(sock)
    try:
        for sock in stalled:
            answer = _read_all(sock)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
            assert b"connection: close" in answer.lower()
            assert b'"error":"request_timeout"' in answer
            # _read_all returned because the server closed the connection, not on timeout
            sock.settimeout(1.0)
            assert sock.recv(1) == b""
    finally:
        for sock in stalled:
            sock.close()
    # the router is still fine, and none of the stalled payments went anywhere
    paid = httpx.post(
        f"{stack.router_url}/v1/payments",
        content=PAYMENT,
        headers={"Idempotency-Key": "after-stall", "content-type": "application/json"},
    )
    assert paid.status_code == 200 and paid.json()["status"] == "approved"
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    ledger = httpx.get(f"{stack.acquirers_url}/admin/ledger", headers=admin).json()["entries"]
    assert [e["key"] for e in ledger] == [paid.json()["attempts"][0]["key"]]


def test_connections_above_the_cap_are_refused_until_some_close(stack: Stack) -> None:
    held = [_connect(stack) for _ in range(MAX_CONNECTIONS)]
    try:
        over = _connect(stack)
        over.sendall(b"GET /healthz HTTP/1.1\r\nHost: router\r\nConnection: close\r\n\r\n")
        assert _read_all(over).startswith(b"HTTP/1.1 503")
        over.close()
    finally:
        for sock in held:
            sock.close()
    for _ in range(100):  # the server notices the closed connections on its next loop turn
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{stack.router_url}/healthz", timeout=5.0).status_code == 200:
                break
    assert httpx.get(f"{stack.router_url}/healthz", timeout=5.0).status_code == 200


def test_the_schema_is_served_for_every_route_over_http(stack: Stack) -> None:
    schema = httpx.get(f"{stack.router_url}/openapi.json").json()
    assert {"/v1/payments", "/v1/payments/{payment_id}", "/healthz", "/metrics"} <= set(
        schema["paths"]
    )
    assert {"/admin/policy", "/admin/payments"} <= set(schema["paths"])
    assert "post" in schema["paths"]["/v1/payments"]
