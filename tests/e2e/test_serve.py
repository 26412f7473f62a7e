"""The live stack as real processes on loopback: mock acquirers + router, over sockets.

One stack serves the routing checks (an injected incident moves success-rate routing
away from the failing acquirer; the router's book reconciles with the acquirers'
ledgers; a SIGTERM lets the payment in flight finish). ``routelab serve`` itself is
checked as a subprocess: it prints where things are, stops cleanly on SIGTERM, refuses
a bad scenario with exit code 2, restarts a killed router on the same port while the
mocks keep their ledgers (and gives up on a crash loop), stops everything when the
mocks die, and its children stop themselves when it is killed outright.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from runtime.stack import Stack, free_port, start_stack

pytestmark = pytest.mark.e2e

SCENARIO = """
name: e2e
seed: 7
merchant: {country: DE}
acquirers:
  - {name: acq_x, dialect: psp, latency: {dist: fixed, ms: 20}, approval: {base: 1.0}}
  - {name: acq_y, dialect: iso8583, latency: {dist: fixed, ms: 20}, approval: {base: 1.0}}
  - {name: acq_slow, dialect: iso8583, latency: {dist: fixed, ms: 1500}, approval: {base: 1.0}}
traffic:
  duration_s: 3600
  arrival: {profile: constant, rate_per_s: 20}
  mix: {networks: {visa: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
  issuer_declines: {base: {}}
policies:
  - name: sr_window
    strategy: {type: sr_window, window: 30, exploration: 0.05, segment_by: [network]}
    rules: [{name: gbp_slow, when: {currency: GBP}, acquirers: [acq_slow]}]
    default: [acq_x, acq_y]
    retry: {max_attempts: 2, attempt_timeout_ms: 3000, budget_ms: 6000}
"""


def payment(i: int, currency: str = "EUR") -> dict[str, Any]:
    return {
        "amount": 1000 + i,
        "currency": currency,
        "merchant_reference": f"order-{i}",
        "card": {
            "bin": "424242",
            "last4": f"{i % 10_000:04d}",
            "network": "visa",
            "type": "debit",
            "issuer_country": "DE",
        },
    }


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("e2e") / "e2e.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stack(scenario_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(scenario_file, log_dir=tmp_path_factory.mktemp("logs")) as running:
        yield running


async def _pay_all(url: str, start: int, count: int, concurrency: int = 8) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:

        async def one(i: int) -> dict[str, Any]:
            async with gate:
                response = await client.post(
                    "/v1/payments", json=payment(i), headers={"Idempotency-Key": f"e2e-{i}"}
                )
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body

        return list(await asyncio.gather(*(one(i) for i in range(start, start + count))))


def _first_attempts(bodies: list[dict[str, Any]]) -> Counter[str]:
    return Counter(b["attempts"][0]["acquirer"] for b in bodies)


def test_incident_moves_success_rate_routing_away_and_books_reconcile(stack: Stack) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    before = asyncio.run(_pay_all(stack.router_url, 0, 60))
    assert all(b["status"] == "approved" for b in before)
    assert _first_attempts(before)["acq_x"] >= 50  # the tie goes to the rule's first choice

    incident = httpx.post(
        f"{stack.acquirers_url}/admin/acquirers/acq_x/incidents",
        headers=admin,
        json={"name": "outage", "approval_delta": -0.9},
    )
    assert incident.status_code == 201, incident.text
    after = asyncio.run(_pay_all(stack.router_url, 60, 80))
    # cascades rescue the payments caught in the switch-over
    assert sum(b["status"] == "approved" for b in after) >= 76
    late = _first_attempts(after[40:])
    assert late["acq_x"] <= 6, late  # only exploration still tries it
    assert late["acq_y"] >= 34, late

    metrics = httpx.get(f"{stack.router_url}/metrics").text
    assert 'routelab_router_strategy_score{acquirer="acq_y",segment="visa"} 1.0' in metrics
    assert 'routelab_router_attempts_total{acquirer="acq_x",class="soft_decline"}' in metrics

    book = httpx.get(f"{stack.router_url}/admin/payments?limit=5000", headers=admin).json()[
        "payments"
    ]
    ledger = httpx.get(f"{stack.acquirers_url}/admin/ledger", headers=admin).json()["entries"]
    approved = sorted(p["approved_key"] for p in book if p["status"] == "approved")
    charged = sorted(e["key"] for e in ledger if e["status"] == "approved")
    assert approved == charged and len(approved) == sum(
        b["status"] == "approved" for b in before + after
    )


def test_sigterm_lets_the_payment_in_flight_finish(scenario_file: Path, tmp_path: Path) -> None:
    with start_stack(scenario_file, log_dir=tmp_path) as running:
        answers: list[httpx.Response] = []

        def pay_slowly() -> None:  # routed to acq_slow: 1.5 s at the acquirer
            answers.append(
                httpx.post(
                    f"{running.router_url}/v1/payments",
                    json=payment(1, currency="GBP"),
                    headers={"Idempotency-Key": "drain-1"},
                    timeout=10.0,
                )
            )

        payer = threading.Thread(target=pay_slowly)
        payer.start()
        deadline = time.monotonic() + 5.0
        while (
            "routelab_router_payments_in_flight 1.0"
            not in httpx.get(f"{running.router_url}/metrics").text
        ):
            assert time.monotonic() < deadline, "the payment never reached the router"
            time.sleep(0.02)
        started = time.monotonic()
        codes = running.stop()
        payer.join(5.0)
        assert time.monotonic() - started >= 0.5  # the router waited for the payment
        assert answers and answers[0].status_code == 200
        assert answers[0].json()["status"] == "approved"
        assert all(code in (0, -signal.SIGTERM) for code in codes.values()), codes
        assert all(s.process.poll() is not None for s in running.services)


# --- routelab serve ------------------------------------------------------------------------

# the real console entry point, as a user runs it
SERVE = [sys.executable, "-m", "routelab.cli", "serve"]


def _serve(*args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    # the journal goes to a folder of its own, not .routelab/ in the working tree
    folder = tempfile.mkdtemp(prefix="routelab-serve-")
    process = subprocess.Popen(
        [*SERVE, *args, "--dir", folder],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return process, lines


def _read_until(lines: queue.Queue[str], marker: str, timeout_s: float = 30.0) -> str:
    seen = ""
    deadline = time.monotonic() + timeout_s
    while marker not in seen:
        seen += lines.get(timeout=max(0.1, deadline - time.monotonic()))
    return seen


def test_routelab_serve_prints_the_stack_and_stops_on_sigterm(scenario_file: Path) -> None:
    router_port, acquirer_port = free_port(), free_port()
    process, lines = _serve(
        str(scenario_file), "--router-port", str(router_port), "--acquirer-port", str(acquirer_port)
    )
    try:
        banner = _read_until(lines, "Ctrl-C to stop.")
        assert f"http://127.0.0.1:{router_port}" in banner
        assert f"http://127.0.0.1:{acquirer_port}" in banner
        token = banner.split("admin token ", 1)[1].split()[0]
        children = psutil.Process(process.pid).children()
        assert len(children) == 2
        health = httpx.get(f"http://127.0.0.1:{router_port}/healthz").json()
        assert health["policy"] == "sr_window"
        policy = httpx.get(
            f"http://127.0.0.1:{router_port}/admin/policy",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert policy.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert "stopped" in _read_until(lines, "stopped", 5)
        assert not any(
            child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children
        )
    finally:
        if process.poll() is None:
            process.kill()


def test_routelab_serve_stops_everything_when_the_acquirers_die(scenario_file: Path) -> None:
    process, lines = _serve(
        str(scenario_file), "--router-port", str(free_port()), "--acquirer-port", str(free_port())
    )
    try:
        _read_until(lines, "Ctrl-C to stop.")
        children = psutil.Process(process.pid).children()
        acquirers = next(c for c in children if "mock_acquirers" in c.cmdline())
        acquirers.kill()  # their ledgers are gone: no point going on
        assert process.wait(20) == 1
        assert "acquirers exited unexpectedly" in _read_until(lines, "unexpectedly", 5)
        psutil.wait_procs(children, timeout=5)
        assert not any(
            child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children
        )
    finally:
        if process.poll() is None:
            process.kill()


def _router_child(serve: subprocess.Popen[str]) -> psutil.Process:
    return next(c for c in psutil.Process(serve.pid).children() if "router" in c.cmdline())


def test_routelab_serve_restarts_a_killed_router_while_the_mocks_keep_their_ledgers(
    scenario_file: Path,
) -> None:
    router_port, acquirer_port = free_port(), free_port()
    router_url = f"http://127.0.0.1:{router_port}"
    process, lines = _serve(
        str(scenario_file),
        "--router-port",
        str(router_port),
        "--acquirer-port",
        str(acquirer_port),
        "--max-restarts",
        "1",
    )
    try:
        banner = _read_until(lines, "Ctrl-C to stop.")
        admin = {"Authorization": f"Bearer {banner.split('admin token ', 1)[1].split()[0]}"}
        ledger_url = f"http://127.0.0.1:{acquirer_port}/admin/ledger"
        paid = httpx.post(
            f"{router_url}/v1/payments", json=payment(1), headers={"Idempotency-Key": "r-1"}
        )
        assert paid.json()["status"] == "approved"
        mocks = next(
            c for c in psutil.Process(process.pid).children() if "mock_acquirers" in c.cmdline()
        )
        assert httpx.get(f"{router_url}/healthz").json()["restarts"] == 0

        first = _router_child(process)
        first_pid, first_cmdline = first.pid, first.cmdline()
        first.kill()  # SIGKILL: no chance to drain or say goodbye
        restarted = _read_until(lines, "router restarted", 30)
        assert "killed by SIGKILL" in restarted and "restart 1" in restarted
        health = httpx.get(f"{router_url}/healthz").json()  # the same port
        assert (health["status"], health["restarts"]) == ("ok", 1)
        second = _router_child(process)
        assert second.pid != first_pid and second.cmdline() == first_cmdline
        assert mocks.is_running() and mocks in psutil.Process(process.pid).children()
        ledger = httpx.get(ledger_url, headers=admin).json()["entries"]
        assert [e["key"] for e in ledger] == [paid.json()["attempts"][0]["key"]]  # intact
        again = httpx.post(
            f"{router_url}/v1/payments", json=payment(2), headers={"Idempotency-Key": "r-2"}
        )
        assert again.json()["status"] == "approved"
        assert len(httpx.get(ledger_url, headers=admin).json()["entries"]) == 2

        second.kill()  # a second quick crash with --max-restarts 1: a crash loop
        assert process.wait(30) == 1
        message = _read_until(lines, "giving up", 10)
        assert "crashed 1 times in a row" in message and "stopping the stack" in message
    finally:
        if process.poll() is None:
            process.kill()


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_services_stop_themselves_when_routelab_serve_is_killed(scenario_file: Path) -> None:
    """SIGKILL leaves no chance to stop the children: they must notice and stop."""
    router_port = free_port()
    process, lines = _serve(
        str(scenario_file), "--router-port", str(router_port), "--acquirer-port", str(free_port())
    )
    children: list[psutil.Process] = []
    try:
        _read_until(lines, "Ctrl-C to stop.")
        children = psutil.Process(process.pid).children()
        assert len(children) == 2
        process.kill()
        process.wait(5)
        deadline = time.monotonic() + 15.0
        while not all(_gone(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_gone(c) for c in children), "a service outlived the stack's owner"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{router_port}/healthz", timeout=1.0)
    finally:
        if process.poll() is None:
            process.kill()
        for child in children:  # never leave a server behind, even when the test fails
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def test_routelab_serve_refuses_a_bad_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCENARIO.replace("approval: {base: 1.0}}", "approval: {base: 1.5}}", 1))
    result = subprocess.run(
        [*SERVE, str(bad)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert "acquirers[0].approval.base" in result.stderr
