"""What the chaos tests share: a bounded open-loop load generator, the books to reconcile,
a scan for card numbers, and the figures each test prints at the end of the run.

The load generator is an asyncio loop on aiohttp in the test's own process: payments
arrive on a fixed schedule (open model: a slow answer never delays the next send), each
latency is measured from the payment's intended send time, and every loop is bounded
by its schedule plus a timeout per request. A payment that gets no final answer
(connection refused while the router restarts, 409 while it recovers, 5xx) is retried
with the same Idempotency-Key and body, as a payment client does, until its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson

from loadtests.reconcile import Reconciliation, reconcile
from runtime.stack import Stack

FIGURES: list[str] = []  # printed in the terminal summary (tests/chaos/conftest.py)


def figure(line: str) -> None:
    """Note a measured figure: printed at the end of the run, and now (with -s)."""
    FIGURES.append(line)
    print(line, flush=True)


def body(i: int, prefix: str) -> dict[str, Any]:
    """A valid payment; the reference is unique per payment (ledgers are matched by it)."""
    networks = ("visa", "mastercard")
    return {
        "amount": 1000 + i % 5000,
        "currency": "EUR",
        "merchant_reference": f"{prefix}-order-{i}",
        "card": {
            "bin": "424242",
            "last4": f"{i % 10_000:04d}",
            "network": networks[i % 2],
            "type": "credit",
            "issuer_country": "DE",
        },
    }


@dataclass
class Outcome:
    """What happened to one payment, from the client's side."""

    key: str
    body: bytes
    intended_at: float  # monotonic: when it should have been sent
    status: int | None = None  # the last HTTP status (None: no answer at all)
    answer: bytes = b""
    latency_s: float = float("nan")  # first try: intended send -> answer
    answered_at: float | None = None  # monotonic: when the first answer arrived
    first_status: int | None = None
    first_answer: bytes = b""  # the first final answer (200) this client saw
    tries: int = 0
    retry_after: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.status == 200

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(self.answer)
        return data


async def send(
    session: aiohttp.ClientSession, url: str, outcome: Outcome, timeout_s: float
) -> None:
    """One try of one payment; fills ``outcome``."""
    outcome.tries += 1
    try:
        async with session.post(
            url,
            data=outcome.body,
            headers={"Idempotency-Key": outcome.key, "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            outcome.answer = await response.read()
            outcome.status = response.status
            outcome.retry_after = response.headers.get("Retry-After")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        outcome.status = None
        outcome.errors.append(type(exc).__name__)
    if outcome.first_status is None and outcome.status is not None:
        outcome.first_status = outcome.status
        outcome.answered_at = time.monotonic()
        outcome.latency_s = outcome.answered_at - outcome.intended_at
    if outcome.status == 200 and not outcome.first_answer:
        outcome.first_answer = outcome.answer


async def pay_until_final(
    session: aiohttp.ClientSession,
    url: str,
    outcome: Outcome,
    deadline: float,
    timeout_s: float,
    retry: Callable[[Outcome], bool],
) -> None:
    """Try, and retry with the same key while ``retry(outcome)`` says so, until the deadline."""
    await send(session, url, outcome, timeout_s)
    while retry(outcome) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        await send(session, url, outcome, timeout_s)


def unfinished(outcome: Outcome) -> bool:
    """Retry a payment that has no final answer yet (no answer, 409 in progress, 5xx)."""
    return outcome.status is None or outcome.status in (409, 500, 502, 503, 504)


def never(outcome: Outcome) -> bool:
    return False


@contextlib.contextmanager
def client_heap_frozen() -> Iterator[None]:
    """Keep the load generator's own garbage-collection pauses out of what it measures.

    The test process holds everything pytest imported (millions of objects): one full
    collection of it stalls every request in flight for a quarter of a second, which an
    open-model client then books as router latency. As the router does for its records
    (``runtime/heap.py``), what exists before the load starts is frozen out of the
    collector's sight for the duration, and given back after.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def open_loop(
    url: str,
    *,
    rate_per_s: float,
    duration_s: float,
    prefix: str,
    start_index: int = 0,
    timeout_s: float = 10.0,
    retry: Callable[[Outcome], bool] = never,
    retry_for_s: float = 0.0,
    connections: int = 512,
    during: Callable[[float], Any] | None = None,
) -> list[Outcome]:
    """Payments at ``rate_per_s`` for ``duration_s`` (evenly spaced), all awaited.

    ``during(elapsed_s)`` is called on every tick (e.g. to kill something halfway);
    retried payments stop ``retry_for_s`` after the schedule ends.
    """
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    outcomes: list[Outcome] = []
    tasks: list[asyncio.Task[None]] = []
    with client_heap_frozen():
        async with aiohttp.ClientSession(connector=connector) as session:
            start = time.monotonic()
            deadline = start + duration_s + retry_for_s
            count = max(1, round(rate_per_s * duration_s))
            for n in range(count):
                at = start + n / rate_per_s
                delay = at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if during is not None:
                    during(time.monotonic() - start)
                i = start_index + n
                outcome = Outcome(f"{prefix}-{i}", orjson.dumps(body(i, prefix)), at)
                outcomes.append(outcome)
                tasks.append(
                    asyncio.create_task(
                        pay_until_final(session, url, outcome, deadline, timeout_s, retry)
                    )
                )
            await asyncio.gather(*tasks)
    return outcomes


async def replay(url: str, outcomes: Iterable[Outcome], timeout_s: float = 10.0) -> list[Outcome]:
    """Send every payment again, same key and body, until each has a final answer."""
    again = [Outcome(o.key, o.body, time.monotonic()) for o in outcomes]
    deadline = time.monotonic() + 60.0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        await asyncio.gather(
            *(pay_until_final(session, url, o, deadline, timeout_s, unfinished) for o in again)
        )
    return again


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


# --- books ------------------------------------------------------------------------------


def admin(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.admin_token}"}


def router_book(router_url: str, token: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        page = httpx.get(
            f"{router_url}/admin/payments?offset={len(rows)}&limit=5000",
            headers=headers,
            timeout=30.0,
        ).json()
        rows += page["payments"]
        if not page["payments"] or len(rows) >= page["total"]:
            return rows


def ledger(acquirers_url: str, token: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(
        f"{acquirers_url}/admin/ledger",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    ).json()["entries"]
    return entries


def wait_settled(router_url: str, timeout_s: float = 30.0) -> None:
    """Until nothing is in flight, recovering or awaiting a late void check."""
    deadline = time.monotonic() + timeout_s
    busy = ("routelab_router_payments_in_flight ", "routelab_router_unresolved_attempts ")
    while True:
        health = httpx.get(f"{router_url}/healthz", timeout=10.0).json()
        text = httpx.get(f"{router_url}/metrics", timeout=10.0).text
        values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(busy)]
        if not any(values) and not health.get("recovering"):
            return
        assert time.monotonic() < deadline, f"still busy: {values}, {health}"
        time.sleep(0.1)


def reconciled(router_url: str, acquirers_url: str, token: str, prefix: str) -> Reconciliation:
    """The router's book against the acquirers' ledgers, for payments of ``prefix``;
    asserts 0 missing, 0 duplicated, 0 unexpected and no card approved twice."""
    wait_settled(router_url)
    book = router_book(router_url, token)
    entries = ledger(acquirers_url, token)
    result = reconcile(book, entries, key_prefix=prefix + "-")
    assert result.ok, (result.describe(), result.problems)
    # no card (one order) approved twice, whatever the router's book says
    approved: dict[str, int] = {}
    for entry in entries:
        if entry["status"] == "approved" and str(entry.get("reference", "")).startswith(prefix):
            approved[entry["reference"]] = approved.get(entry["reference"], 0) + 1
    twice = {ref: n for ref, n in approved.items() if n > 1}
    assert not twice, f"cards approved twice: {twice}"
    return result


# --- card numbers -------------------------------------------------------------------------

# separators a card number may be written with (as router.card_data accepts them)
_SEPARATORS = re.compile(
    r"(?<=\d)[\s\-\u2010-\u2015\u2212\u00a0\u00ad\u200b-\u200d\u2060\ufeff\u202f.·_/]+(?=\d)"
)


def digits_view(text: str) -> str:
    """``text`` with full-width digits made ASCII and separators between digits dropped."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))


def card_numbers_in(paths: Iterable[Path], pans: Iterable[str]) -> list[str]:
    """Which of ``pans`` appear, in any written form, in any of the files (binary too)."""
    found = []
    wanted = list(pans)
    for path in paths:
        text = digits_view(path.read_bytes().decode("utf-8", errors="replace"))
        found += [f"{path.name}: {pan}" for pan in wanted if pan in text]
    return found
