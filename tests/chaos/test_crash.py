"""The router killed under load (SIGKILL, restarted by ``routelab serve``'s supervisor)
and stopped under load (SIGTERM drain): no card approved twice, nothing forgotten.

After the SIGKILL every client retries its payment with its Idempotency-Key until it
gets a final answer, then every key used is replayed once more. What must hold: every
replay gets the first final answer its client saw, byte for byte; the books reconcile
(0 missing, 0 duplicated, 0 unexpected); no order is approved twice at the acquirers;
every approval an acquirer holds was answered to its client as approved, and every
other attempt was voided (or is reported unresolved by the router: here, none).
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from chaos_kit import (
    Outcome,
    figure,
    ledger,
    open_loop,
    quantile,
    reconciled,
    replay,
    router_book,
    unfinished,
)

from runtime.stack import free_port, start_stack

SCENARIO = """
name: crash
seed: 11
merchant: {country: DE}
acquirers:
  - {name: acq_iso, dialect: iso8583, latency: {dist: fixed, ms: 250}, approval: {base: 0.9},
     decline_codes: {"05": 1}}
  - {name: acq_psp, dialect: psp, latency: {dist: fixed, ms: 250}, approval: {base: 0.9},
     decline_codes: {"05": 1}}
traffic:
  duration_s: 3600
  arrival: {profile: constant, rate_per_s: 60}
  mix: {networks: {visa: 1, mastercard: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
  issuer_declines: {base: {}}
policies:
  - name: cascade
    strategy: {type: sr_window, window: 50, exploration: 0.1, segment_by: [network]}
    default: [acq_iso, acq_psp]
    retry: {max_attempts: 2, attempt_timeout_ms: 1500, budget_ms: 4000}
"""
RATE = 60.0  # payments/s
LOAD_S = 6.0
KILL_AT_S = 2.5


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "crash.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


@pytest.fixture
def serve(scenario_file: Path, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """``routelab serve`` with its journal in tmp_path: (router URL, mocks URL, token)."""
    router_port, acquirer_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "routelab.cli",
            "serve",
            str(scenario_file),
            "--router-port",
            str(router_port),
            "--acquirer-port",
            str(acquirer_port),
            "--dir",
            str(tmp_path / "serve"),
            "--max-restarts",
            "2",
        ],
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
    banner = ""
    deadline = time.monotonic() + 60.0
    while "Ctrl-C to stop." not in banner:
        banner += lines.get(timeout=max(0.1, deadline - time.monotonic()))
    token = banner.split("admin token ", 1)[1].split()[0]
    assert str(tmp_path / "serve" / f"journal-{router_port}.sqlite") in banner
    try:
        yield f"http://127.0.0.1:{router_port}", f"http://127.0.0.1:{acquirer_port}", token
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _router_child(router_url: str) -> psutil.Process:
    port = router_url.rsplit(":", 1)[1]
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "router" in cmdline and port in cmdline and "-m" in cmdline:
            return proc
    raise AssertionError("no router process")


def test_sigkill_under_load_restart_and_replay_approve_no_card_twice(
    serve: tuple[str, str, str],
) -> None:
    router_url, acquirers_url, token = serve
    url = router_url + "/v1/payments"
    victim = _router_child(router_url)
    killed_at: list[float] = []

    def kill(elapsed_s: float) -> None:
        if not killed_at and elapsed_s >= KILL_AT_S:
            os.kill(victim.pid, signal.SIGKILL)
            killed_at.append(time.monotonic())

    outcomes = asyncio.run(
        open_loop(
            url,
            rate_per_s=RATE,
            duration_s=LOAD_S,
            prefix="kill",
            retry=unfinished,
            retry_for_s=40.0,
            during=kill,
        )
    )
    assert killed_at, "the router was never killed"
    assert all(o.final for o in outcomes), [(o.key, o.status, o.errors) for o in outcomes][:10]
    hit = [o for o in outcomes if o.intended_at <= killed_at[0] and o.tries > 1]
    assert hit, "no payment was caught by the crash: the test proves nothing"
    health = httpx.get(router_url + "/healthz").json()
    assert health["restarts"] == 1 and health["journal"] is True

    # every key used, replayed: the first final answer, byte for byte; nothing new
    before = ledger(acquirers_url, token)
    again = asyncio.run(replay(url, outcomes))
    assert [a.answer for a in again] == [o.first_answer for o in outcomes]
    assert ledger(acquirers_url, token) == before

    result = reconciled(router_url, acquirers_url, token, "kill")
    answered = {
        o.json()["attempts"][-1]["key"] for o in outcomes if o.json()["status"] == "approved"
    }
    book = router_book(router_url, token)
    reported = {k for p in book for k in p["unresolved_keys"]}
    unknown = [
        e
        for e in ledger(acquirers_url, token)
        if e["status"] == "approved" and e["key"] not in answered and e["key"] not in reported
    ]
    assert unknown == [], unknown[:5]  # every approval answered, voided, or reported
    recovered = [o for o in outcomes if o.json().get("recovered")]
    downtime = [o.latency_s for o in hit]
    figure(
        f"SIGKILL under load ({RATE:g}/s, 250 ms acquirers): {len(outcomes)} payments, "
        f"{len(hit)} caught by the crash, {len(recovered)} finished from the journal, "
        f"restarts 1; replay of {len(again)} keys: identical answers, 0 new authorisations; "
        f"reconciliation {result.matched} matched, 0 missing, 0 duplicated, 0 unexpected, "
        f"{result.ledger_reversed} voided; 0 cards approved twice, 0 approvals unknown; "
        f"caught payments' first answer after {quantile(downtime, 0.5):.1f} s (p50)"
    )


def test_sigterm_drains_the_payments_in_flight_and_a_restart_replays_them(
    scenario_file: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.sqlite"
    with start_stack(scenario_file, log_dir=tmp_path / "logs", journal=journal) as stack:
        url = stack.router_url + "/v1/payments"
        stopped: list[tuple[float, int]] = []

        def stop(elapsed_s: float) -> None:
            if not stopped and elapsed_s >= 2.0:
                assert stack.router is not None
                stack.router.process.send_signal(signal.SIGTERM)
                stopped.append((time.monotonic(), 0))

        async def load() -> list[Outcome]:
            return await open_loop(
                url, rate_per_s=RATE, duration_s=3.0, prefix="drain", during=stop
            )

        outcomes = asyncio.run(load())
        assert stack.router is not None
        # a clean exit (uvicorn re-raises the SIGTERM once it has drained), not a crash
        assert stack.router.process.wait(30) in (0, -signal.SIGTERM)
        signalled = stopped[0][0]
        drained = [
            o
            for o in outcomes
            if o.intended_at < signalled and o.answered_at and o.answered_at > signalled
        ]
        assert len(drained) >= 5, "too few payments in flight at the signal to prove a drain"
        assert all(o.first_status == 200 for o in drained), [o.first_status for o in drained]
        before = [o for o in outcomes if o.intended_at < signalled - 0.05]
        assert all(o.final for o in before), [o.errors for o in before if not o.final]
        with sqlite3.connect(journal) as db:
            (left,) = db.execute(
                "SELECT COUNT(*) FROM payments WHERE finished_at IS NULL"
            ).fetchone()
        assert left == 0  # drained: nothing left for a restart to settle
        stack.restart_router()
        final = [o for o in outcomes if o.final]
        again = asyncio.run(replay(url, final))
        assert [a.answer for a in again] == [o.first_answer for o in final]
        result = reconciled(stack.router_url, stack.acquirers_url, stack.admin_token, "drain")
        figure(
            f"SIGTERM under load ({RATE:g}/s, 250 ms acquirers): {len(drained)} payments in "
            f"flight at the signal, {len(drained)} answered 200 with their final status; "
            f"all {len(before)} sent before it answered; 0 left unfinished in the journal; "
            f"after a restart {len(again)} keys replay identically; reconciliation "
            f"{result.matched} matched, 0 missing, 0 duplicated, 0 unexpected"
        )
