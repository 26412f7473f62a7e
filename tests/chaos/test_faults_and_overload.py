"""The 8 HTTP fault kinds under load, and a 3x overload burst.

Faults: the mock acquirers break one exchange in four with each kind in turn
(``http_500``, ``http_503``, ``http_429``, ``reset``, ``slow_body``, ``truncated``,
``malformed``, ``late_approval``) while payments flow: every payment gets a final
answer (no 5xx), and once the router has settled what it could not know, its book and
the acquirers' ledgers reconcile with nothing unresolved.

Overload: capacity is what the admission cap lets through (cap / acquirer latency);
80 % of it for a baseline, then 3x, then 80 % again. Payments above the cap are shed
with 503 and Retry-After within 50 ms, the admitted ones keep a p99 within 2x the
baseline's, and afterwards the router is back to its baseline by itself.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from chaos_kit import Outcome, figure, open_loop, quantile, reconciled

from runtime.stack import Stack, start_stack

FAULTS_SCENARIO = """
name: faults
seed: 5
merchant: {country: DE}
acquirers:
  - {name: acq_a, dialect: iso8583, latency: {dist: fixed, ms: 20}, approval: {base: 0.9},
     decline_codes: {"05": 1}}
  - {name: acq_b, dialect: psp, latency: {dist: fixed, ms: 20}, approval: {base: 0.9},
     decline_codes: {"05": 1}}
  - {name: acq_c, dialect: iso8583, latency: {dist: fixed, ms: 20}, approval: {base: 0.9},
     decline_codes: {"05": 1}}
traffic:
  duration_s: 3600
  arrival: {profile: constant, rate_per_s: 80}
  mix: {networks: {visa: 1, mastercard: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
  issuer_declines: {base: {}}
policies:
  - name: cascade
    strategy: {type: sr_window, window: 50, exploration: 0.1, segment_by: [network]}
    default: [acq_a, acq_b, acq_c]
    retry: {max_attempts: 3, attempt_timeout_ms: 300, budget_ms: 3000,
            void_timeout_ms: 500, status_timeout_ms: 500}
"""
FAULT_KINDS = (
    "http_500",
    "http_503",
    "http_429",
    "reset",
    "slow_body",
    "truncated",
    "malformed",
    "late_approval",
)
FAULT_WINDOW_S = 1.0
FAULT_RATE = 0.25

CAP = 20  # payments in flight
LATENCY_MS = 100
CAPACITY = CAP / (LATENCY_MS / 1000.0)  # 200 payments/s
OVERLOAD_SCENARIO = f"""
name: overload
merchant: {{country: DE}}
acquirers:
  - {{name: acq_x, dialect: iso8583, latency: {{dist: fixed, ms: {LATENCY_MS}}},
     approval: {{base: 1.0}}}}
traffic:
  duration_s: 3600
  arrival: {{profile: constant, rate_per_s: {CAPACITY:g}}}
  mix: {{networks: {{visa: 1}}, issuer_countries: {{DE: 1}}, currencies: {{EUR: 1}},
        amount: {{dist: fixed, value: 1000}}}}
  issuer_declines: {{base: {{}}}}
policies:
  - {{name: only, strategy: {{type: priority}}, default: [acq_x],
     retry: {{max_attempts: 1, attempt_timeout_ms: 2000, budget_ms: 4000}}}}
"""
PHASE_S = 4.0
SHED_WITHIN_MS = 50.0


def _stack(tmp_path: Path, text: str, args: list[str]) -> Stack:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(text, encoding="utf-8")
    return start_stack(
        scenario,
        log_dir=tmp_path / "logs",
        journal=tmp_path / "journal.sqlite",
        router_args=["--log-level", "warning", *args],
    )


@pytest.fixture
def faults_stack(tmp_path: Path) -> Iterator[Stack]:
    with _stack(tmp_path, FAULTS_SCENARIO, []) as stack:
        yield stack


def test_the_8_fault_kinds_under_load_every_payment_answered_books_reconciled(
    faults_stack: Stack,
) -> None:
    stack = faults_stack
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    injected: list[str] = []

    def inject() -> None:  # each kind in turn, on every acquirer, while the load runs
        time.sleep(0.5)
        for kind in FAULT_KINDS:
            for acquirer in ("acq_a", "acq_b", "acq_c"):
                answer = httpx.post(
                    f"{stack.acquirers_url}/admin/acquirers/{acquirer}/faults",
                    headers=admin,
                    json={
                        "kind": kind,
                        "rate": FAULT_RATE,
                        "duration_s": FAULT_WINDOW_S,
                        "delay_ms": 800,
                    },
                )
                assert answer.status_code == 201, answer.text
            injected.append(kind)
            time.sleep(FAULT_WINDOW_S)

    injector = threading.Thread(target=inject)
    injector.start()
    duration = 0.5 + FAULT_WINDOW_S * len(FAULT_KINDS) + 0.5
    outcomes = asyncio.run(
        open_loop(
            stack.router_url + "/v1/payments", rate_per_s=80, duration_s=duration, prefix="ft"
        )
    )
    injector.join()
    assert injected == list(FAULT_KINDS)
    statuses = Counter(o.first_status for o in outcomes)
    assert statuses == {200: len(outcomes)}, statuses  # no 5xx, no error, no refusal
    raw = Counter(a.get("raw_code", a["code"]) for o in outcomes for a in o.json()["attempts"])
    # the faults reached the router as what they are
    for code in ("HTTP_500", "HTTP_503", "HTTP_429", "BAD_BODY"):
        assert raw[code] > 0, (code, raw)
    assert raw["TIMEOUT"] > 0, raw  # slow bodies and late approvals
    result = reconciled(stack.router_url, stack.acquirers_url, stack.admin_token, "ft")
    assert result.unresolved == 0
    status = Counter(o.json()["status"] for o in outcomes)
    figure(
        f"8 fault kinds under load (80/s, each kind {FAULT_WINDOW_S:g} s at rate "
        f"{FAULT_RATE:g} on every acquirer): {len(outcomes)} payments, all answered 200 "
        f"({dict(status)}), 0 5xx; attempts by raw code {dict(raw.most_common(8))}; "
        f"reconciliation {result.matched} matched, 0 missing, 0 duplicated, 0 unexpected, "
        f"{result.ledger_reversed} voided, 0 unresolved"
    )


def _phase(stack: Stack, rate: float, prefix: str) -> list[Outcome]:
    return asyncio.run(
        open_loop(
            stack.router_url + "/v1/payments",
            rate_per_s=rate,
            duration_s=PHASE_S,
            prefix=prefix,
            connections=1024,
        )
    )


def _admitted_p99_ms(outcomes: list[Outcome]) -> float:
    return 1000.0 * quantile([o.latency_s for o in outcomes if o.first_status == 200], 0.99)


def test_a_3x_burst_is_shed_fast_admitted_latency_holds_and_the_router_recovers(
    tmp_path: Path,
) -> None:
    with _stack(tmp_path, OVERLOAD_SCENARIO, ["--max-in-flight", str(CAP)]) as stack:
        _phase(stack, 0.5 * CAPACITY, "warm")  # connections and code paths warm
        base = _phase(stack, 0.8 * CAPACITY, "base")
        burst = _phase(stack, 3.0 * CAPACITY, "burst")
        after = _phase(stack, 0.8 * CAPACITY, "after")
        health = httpx.get(stack.router_url + "/healthz").json()
        reconciled(stack.router_url, stack.acquirers_url, stack.admin_token, "burst")

    for phase in (base, burst, after):
        assert {o.first_status for o in phase} <= {200, 503}, Counter(o.first_status for o in phase)
    shed = [o for o in burst if o.first_status == 503]
    assert shed and all(o.retry_after for o in shed)
    assert all(b'"error":"overloaded"' in o.answer for o in shed)
    shed_p99 = 1000.0 * quantile([o.latency_s for o in shed], 0.99)
    shed_p50 = 1000.0 * quantile([o.latency_s for o in shed], 0.5)
    p99_base, p99_burst, p99_after = (_admitted_p99_ms(p) for p in (base, burst, after))
    admitted = {
        name: sum(o.first_status == 200 for o in p) / len(p)
        for name, p in (("base", base), ("burst", burst), ("after", after))
    }
    # recovery: how long into the phase after the burst the last payment was shed
    after_start = after[0].intended_at
    last_shed = max((o.intended_at for o in after if o.first_status == 503), default=after_start)
    recovered_s = last_shed - after_start
    tail = [o for o in after if o.intended_at >= after_start + 1.0]
    tail_admitted = sum(o.first_status == 200 for o in tail) / len(tail)
    figure(
        f"3x burst (cap {CAP} in flight, {LATENCY_MS} ms acquirer, capacity "
        f"{CAPACITY:g}/s; {PHASE_S:g} s phases at 80 %, 300 %, 80 %): shed "
        f"{len(shed)} of {len(burst)} with 503 + Retry-After, p50 {shed_p50:.1f} ms, "
        f"p99 {shed_p99:.1f} ms (target 50); admitted p99 {p99_base:.0f} ms at 80 %, "
        f"{p99_burst:.0f} ms in the burst ({p99_burst / p99_base:.2f}x, target <= 2x), "
        f"{p99_after:.0f} ms after; admitted share {admitted['base']:.0%} / "
        f"{admitted['burst']:.0%} / {admitted['after']:.0%}; last payment shed "
        f"{recovered_s * 1000:.0f} ms after the burst ended"
    )
    assert shed_p99 <= SHED_WITHIN_MS
    assert p99_burst <= 2.0 * p99_base
    # recovered by itself: the phase after the burst looks like the one before it
    assert p99_after <= 2.0 * p99_base
    assert recovered_s <= 1.0
    assert tail_admitted >= admitted["base"] - 0.01
    assert health["in_flight"] <= CAP
