"""Routing service benchmark: the router against a minimal relay, and the mocks' own cost.

On loopback, with one load generator (wrk, a Lua script giving every request a unique
Idempotency-Key and a valid payment body) and one mock acquirer process, in one run:

(a) relay: ``benchmarks/relay.py``, a raw ASGI relay (orjson, one pooled aiohttp
    session) forwarding each payment to one iso8583 acquirer: the ceiling;
(b) router: ``python -m router`` (one process), ``sr_window`` over three acquirers;
(c) mock cost: a trivial raw ASGI handler against the mock acquirer endpoint hit
    directly (``acq_zero``, fixed 0 ms): mock_cost_ratio = raw_rps / mock_rps;
(d) router variants, each a second router process the same as (b) but for one option,
    interleaved with (b): ``--journal`` (every payment journaled, each attempt durable
    before it is sent, the answer before it goes out): journal_ratio = journaled rps /
    router rps; ``--attempt-log`` (one Parquet row per attempt, written off the request
    path): attempt_log_ratio = logging rps / router rps.

Maximum throughput: the best closed-loop rate over a few connection counts. Latency at
half load: paced runs, N connections each waiting a random think time (uniform
0..2x``--think-ms``) between an answer and its next request, N calibrated so that the
router runs at about half its maximum rate; the relay and the mock (acq_a, hit directly)
get the same N and think time. router_added_p50 = router p50 - relay p50 of those runs
(wrk's latency excludes think time). Run from the repository root::

    .venv/bin/python benchmarks/bench_router.py            # full, about four minutes
    .venv/bin/python benchmarks/bench_router.py --quick    # smoke test, under a minute
    .venv/bin/python benchmarks/bench_router.py --only variants  # (d) alone, a minute or two
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil
from _common import (
    WRK_CHECK_LUA,
    Target,
    WrkRun,
    emit_json,
    environment,
    err,
    fmt,
    pin,
    print_figures,
    print_targets,
    progress,
    run_wrk,
    wrk_executable,
)

from runtime.serving import TOKEN_ENV
from runtime.stack import Service, Stack, free_port, start_stack, wait_healthy

HERE = Path(__file__).resolve().parent
SCENARIO_PATH = HERE / "bench_router_scenario.yaml"
POLICY = "sr_window"
RELAY_ACQUIRER = "acq_a"  # 1 ms, iso8583: the relay's one acquirer
ZERO_ACQUIRER = "acq_zero"  # 0 ms, in no policy: what the mock-cost measurement hits
EXIT_NO_WRK = 2
BUSY_CORE = 0.9  # CPU share above which a core counts as saturated

TARGET_RATIO = 0.5  # router over relay throughput
TARGET_ROUTER_RPS = 2_000.0  # payments/s, one router process
TARGET_ADDED_P50_MS = 2.0  # router p50 - relay p50 at half of the router's maximum rate
TARGET_MOCK_COST = 2.0  # raw handler rps over mock rps
TARGET_JOURNAL_RATIO = 0.8  # router with its journal over the router without
TARGET_ATTEMPT_LOG_RATIO = 0.9  # router writing its attempt log over the router without

# (d): name of the variant process -> (the option it adds, its endpoint label, JSON prefix,
# the target it is held to)
VARIANTS = {
    "journaled": ("--journal", "router+journal", "journal", TARGET_JOURNAL_RATIO),
    "logging": ("--attempt-log", "router+attempt log", "attempt_log", TARGET_ATTEMPT_LOG_RATIO),
}
VARIANT_FILES = {"journaled": "journal.sqlite", "logging": "attempts.parquet"}


@dataclass(frozen=True)
class Settings:
    """How long and how hard to run."""

    duration_s: float  # each closed-loop run
    connections: tuple[int, ...]  # closed-loop connection counts tried
    repeats: int  # runs per connection count (closed loop) and per endpoint (paced)
    paced_s: float  # each paced (half-load) run
    think_ms: int  # mean think time of paced runs
    warmup_s: float


FULL = Settings(6, (16, 64, 256), 2, 8, 10, 2)
QUICK = Settings(3, (32, 128), 1, 4, 10, 1)

# Requests: the router's payment API body, or an iso8583 0100 for acquirer endpoints.
# Cards vary (network, type, issuer country) so sr_window works over several segments.
REQUEST_LUA = r"""
local networks = {"visa", "mastercard", "visa", "amex", "mastercard"}
local countries = {"DE", "DE", "FR", "DE", "US"}
local card_types = {"credit", "debit"}
counter = 0

function init(args)
  body_kind, tag, marker, think_ms = args[1], args[2], args[3], tonumber(args[4])
  math.randomseed(thread_id * 7919)
  headers = {["Content-Type"] = "application/json"}
end

function request()
  counter = counter + 1
  local key = tag .. "-" .. thread_id .. "-" .. counter
  local network = networks[math.random(5)]
  local country = countries[math.random(5)]
  local card_type = card_types[math.random(2)]
  local amount = 100 + (counter * 37) % 20000
  local body
  if body_kind == "payment" then
    headers["Idempotency-Key"] = key
    body = '{"amount":' .. amount .. ',"currency":"EUR","card":{"bin":"424242",'
      .. '"last4":"4242","network":"' .. network .. '","type":"' .. card_type
      .. '","issuer_country":"' .. country .. '"}}'
  else
    body = '{"mti":"0100","rrn":"' .. key .. '","amount":' .. amount .. ',"currency":"EUR",'
      .. '"pan_bin":"424242","pan_last4":"4242","network":"' .. network
      .. '","card_type":"' .. card_type .. '","issuer_country":"' .. country
      .. '","merchant_country":"DE","merchant_reference":"' .. key .. '"}'
  end
  return wrk.format("POST", nil, headers, body)
end
"""
# Think time between a connection's answer and its next request (paced runs only).
DELAY_LUA = r"""
function delay()
  return math.random(0, 2 * think_ms)
end
"""


@dataclass(frozen=True)
class Endpoint:
    """Something wrk hits: its URL, the body it takes, what every valid answer contains."""

    label: str
    url: str
    body: str  # "payment" (the router's API) or "iso" (an iso8583 0100)
    marker: str
    server: str  # the process under test, for its CPU share


@dataclass(frozen=True)
class Measured:
    """One wrk run of an endpoint, with the authorisations the mocks saw meanwhile."""

    endpoint: Endpoint
    run: WrkRun
    think_ms: int
    upstream: int  # authorisation requests the mock acquirers received

    @property
    def upstream_per_payment(self) -> float:
        return self.upstream / self.run.requests if self.run.requests else float("nan")

    @property
    def rps_per_cpu(self) -> float:
        """Answers per CPU second of the process under test: steadier on a shared core."""
        cpu = self.run.server_cpu_s[self.endpoint.server]
        return self.run.requests / cpu if cpu > 0 else float("nan")

    def describe(self) -> tuple[str, str, str]:
        """(what, rate, details) for the tables and the progress lines."""
        run, server = self.run, self.endpoint.server
        pace = f", think {self.think_ms} ms" if self.think_ms else ""
        cpu = f"cpu {server} {run.cpu_share(server):.0%}"
        if server != "mock":
            cpu += f", mock {run.cpu_share('mock'):.0%}"
        return (
            f"{self.endpoint.label} (c={run.connections}{pace})",
            fmt(run.rps),
            f"p50 {run.p50_ms:.2f} / p99 {run.p99_ms:.2f} ms; {cpu}, wrk "
            f"{run.cpu_share('wrk'):.0%}; {fmt(self.rps_per_cpu)}/cpu-s; invalid {run.invalid}",
        )


@dataclass
class Bench:
    """The running processes (router, mocks, relay, raw handler) and how to load them."""

    stack: Stack
    extras: dict[str, Service]
    token: str
    scripts: dict[str, Path]
    server_cpus: set[int] | None  # the process under test
    client_cpus: set[int] | None  # wrk (and the mocks while they are not under test)
    served: Counter[str] = field(default_factory=Counter)  # requests per endpoint
    runs: int = 0

    @property
    def pids(self) -> dict[str, int]:
        assert self.stack.router is not None
        return {
            "router": self.stack.router.process.pid,
            "mock": self.stack.acquirers.process.pid,
            **{name: s.process.pid for name, s in self.extras.items()},
        }

    def admin(self, method: str, path: str) -> Any:
        """Call the mock acquirers' admin API."""
        headers = {"Authorization": f"Bearer {self.token}"}
        url = self.stack.acquirers_url + path
        request = urllib.request.Request(url, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=10.0) as response:
            return json.loads(response.read())

    def place(self, layout: dict[str, set[int] | None]) -> None:
        """Pin processes to cores (nothing happens when pinning is off)."""
        pids = self.pids
        for label, cpus in layout.items():
            if cpus:
                pin(pids[label], cpus)

    def measure(
        self, endpoint: Endpoint, connections: int, duration_s: float, think_ms: int = 0
    ) -> Measured:
        """One wrk run against ``endpoint``, on mocks reset to a clean state first."""
        self.admin("POST", "/admin/reset")
        self.runs += 1
        # the run's tag starts every Idempotency-Key: the router keeps keys for 24 h
        args = [endpoint.body, f"run{self.runs}", endpoint.marker, str(think_ms)]
        script = self.scripts["paced" if think_ms else "closed"]
        run = run_wrk(
            endpoint.url,
            script,
            args,
            connections=connections,
            duration_s=duration_s,
            cpus=self.client_cpus,
            watch=self.pids,
        )
        self.served[endpoint.label] += run.requests
        counters = self.admin("GET", "/admin/counters")
        upstream = sum(int(c["requests"]) for c in counters.values())
        measured = Measured(endpoint, run, think_ms, upstream)
        what, rate, details = measured.describe()
        progress(f"{what}: {rate}/s, {details}")
        return measured


def spawn(
    name: str, args: list[str], url: str, log_dir: Path, env: dict[str, str] | None = None
) -> Service:
    """A reference server (relay.py) or a second router as a child in its own session,
    logging to a file."""
    log_path = log_dir / f"{name}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Service(name, url, process, log_path, log_file)


@contextmanager
def running(work_dir: Path, pinning: bool) -> Iterator[Bench]:
    """Mocks, router, relay and raw handler up and healthy; all stopped on the way out."""
    token = secrets.token_urlsafe(18)
    logs = work_dir / "logs"
    scripts = {"closed": work_dir / "closed.lua", "paced": work_dir / "paced.lua"}
    scripts["closed"].write_text(REQUEST_LUA + WRK_CHECK_LUA)
    scripts["paced"].write_text(REQUEST_LUA + DELAY_LUA + WRK_CHECK_LUA)
    router_args = ["--log-level", "warning"]
    stack = start_stack(
        SCENARIO_PATH, policy=POLICY, admin_token=token, log_dir=logs, router_args=router_args
    )
    extras: dict[str, Service] = {}
    try:
        for name, (option, _, _, _) in VARIANTS.items():
            port = free_port()
            extras[name] = spawn(
                name,
                [
                    sys.executable,
                    "-m",
                    "router",
                    "--scenario",
                    str(SCENARIO_PATH),
                    "--policy",
                    POLICY,
                    "--port",
                    str(port),
                    "--acquirers-url",
                    stack.acquirers_url,
                    option,
                    str(work_dir / VARIANT_FILES[name]),
                    *router_args,
                ],
                f"http://127.0.0.1:{port}",
                logs,
                {**os.environ, TOKEN_ENV: token},
            )
        relay_py = str(HERE / "relay.py")
        for name, mode, more in (
            ("relay", "relay", ["--acquirer-url", f"{stack.acquirers_url}/{RELAY_ACQUIRER}"]),
            ("raw", "trivial", []),
        ):
            port = free_port()
            argv = [sys.executable, relay_py, mode, "--port", str(port), *more]
            extras[name] = spawn(name, argv, f"http://127.0.0.1:{port}", logs)
        for service in extras.values():
            wait_healthy(service, 30.0)
        cpus = sorted(os.sched_getaffinity(0))
        server = client = None
        if pinning and len(cpus) >= 2:
            server, client = {cpus[0]}, {cpus[1]}
        yield Bench(stack, extras, token, scripts, server, client)
    finally:
        for service in extras.values():
            service.stop(5.0)
        stack.stop(timeout_s=15.0)


# --- the measurements ------------------------------------------------------------------


def closed_loop(bench: Bench, endpoints: Sequence[Endpoint], s: Settings) -> dict[str, Measured]:
    """Each endpoint's best sustained rate: the connection count with the highest median
    rate over the repeats. Runs are interleaved so all endpoints meet the same noise."""
    runs: dict[str, dict[int, list[Measured]]] = {e.label: {} for e in endpoints}
    for _ in range(s.repeats):
        for connections in s.connections:
            for endpoint in endpoints:
                measured = bench.measure(endpoint, connections, s.duration_s)
                runs[endpoint.label].setdefault(connections, []).append(measured)
    return {
        label: max((median(group, "rps") for group in by_count.values()), key=lambda m: m.run.rps)
        for label, by_count in runs.items()
    }


def median(group: Sequence[Measured], figure: str) -> Measured:
    """The run with the median ``figure`` (the upper median for an even count)."""
    ordered = sorted(group, key=lambda m: float(getattr(m.run, figure)))
    return ordered[len(ordered) // 2]


def half_load(
    bench: Bench, router: Endpoint, others: Sequence[Endpoint], router_max: float, s: Settings
) -> tuple[dict[str, Measured], int]:
    """Paced runs at about half the router's maximum rate; returns them and N connections.

    wrk has no fixed-rate mode, so each connection thinks between requests and the rate
    is about N / (think + latency). N starts from that formula (latency guessed at 2 ms)
    and is corrected once after a short calibration run of the router.
    """
    goal = router_max / 2.0
    connections = max(1, round(goal * (s.think_ms + 2.0) / 1000.0))
    calibration = bench.measure(router, connections, max(2.0, s.paced_s / 2), s.think_ms)
    connections = max(1, round(connections * goal / calibration.run.rps))
    runs: dict[str, list[Measured]] = {e.label: [] for e in (*others, router)}
    for _ in range(s.repeats):
        for endpoint in (*others, router):
            runs[endpoint.label].append(bench.measure(endpoint, connections, s.paced_s, s.think_ms))
    return {label: median(group, "p50_ms") for label, group in runs.items()}, connections


def variant_cost(bench: Bench, s: Settings) -> dict[str, Measured]:
    """(d): the router and each variant, best closed-loop rates, interleaved; each router
    alone on the server core while it is measured."""
    endpoints = router_endpoints(bench)
    bench.place({e.server: bench.server_cpus for e in endpoints})
    return closed_loop(bench, endpoints, s)


def router_endpoints(bench: Bench) -> list[Endpoint]:
    """The router of (b), then each variant."""
    approved = '"status":"approved"'
    return [
        Endpoint("router", bench.stack.router_url + "/v1/payments", "payment", approved, "router"),
        *(
            Endpoint(label, bench.extras[name].url + "/v1/payments", "payment", approved, name)
            for name, (_, label, _, _) in VARIANTS.items()
        ),
    ]


def variant_figures(runs: dict[str, Measured]) -> dict[str, Any]:
    off = runs["router"]
    out: dict[str, Any] = {}
    for _, label, prefix, _ in VARIANTS.values():
        on = runs[label]
        out |= {
            **run_figures(f"{prefix}_off", off),
            **run_figures(f"{prefix}_on", on),
            f"{prefix}_ratio": round(on.run.rps / off.run.rps, 3),
            f"{prefix}_ratio_cpu": round(on.rps_per_cpu / off.rps_per_cpu, 3),
        }
    return out


def variant_rows(f: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (
            f"router with {label.removeprefix('router+')} / without",
            fmt(f[f"{prefix}_ratio"], 2),
            f"best closed-loop rates, same run; per CPU second: {fmt(f[f'{prefix}_ratio_cpu'], 2)}",
        )
        for _, label, prefix, _ in VARIANTS.values()
    ]


def variant_targets(f: dict[str, Any]) -> list[Target]:
    return [
        Target(
            f"router with {label.removeprefix('router+')} / without (same run)",
            f[f"{prefix}_ratio"],
            goal,
            ">=",
            "x",
        )
        for _, label, prefix, goal in VARIANTS.values()
    ]


@dataclass(frozen=True)
class Results:
    """Everything measured: best closed-loop runs, paced runs, mock-cost runs."""

    top: dict[str, Measured]
    paced: dict[str, Measured]
    cost: dict[str, Measured]
    paced_connections: int
    router_payments: int  # payments the router had routed (and kept records of) by the end
    router_rss_mb: float
    variants: dict[str, Measured] = field(default_factory=dict)

    @property
    def all_runs(self) -> list[Measured]:
        return [
            *self.top.values(),
            *self.paced.values(),
            *self.cost.values(),
            *self.variants.values(),
        ]


def measure_all(bench: Bench, s: Settings) -> Results:
    """Warm-up, (a) and (b) at full then half load, then (c)."""
    mock_url = bench.stack.acquirers_url
    approved, iso_ok = '"status":"approved"', '"response_code":"00"'
    relay = Endpoint(
        "relay", bench.extras["relay"].url + "/v1/payments", "payment", approved, "relay"
    )
    router = Endpoint(
        "router", bench.stack.router_url + "/v1/payments", "payment", approved, "router"
    )
    direct = Endpoint(
        f"mock {RELAY_ACQUIRER}",
        f"{mock_url}/{RELAY_ACQUIRER}/iso/authorise",
        "iso",
        iso_ok,
        "mock",
    )
    zero = Endpoint(
        f"mock {ZERO_ACQUIRER}", f"{mock_url}/{ZERO_ACQUIRER}/iso/authorise", "iso", iso_ok, "mock"
    )
    raw = Endpoint("raw handler", bench.extras["raw"].url + "/v1/payments", "iso", iso_ok, "raw")
    server, client = bench.server_cpus, bench.client_cpus
    # (a), (b): the service under test alone on one core, the mocks and wrk on the other
    bench.place(
        {
            "router": server,
            **dict.fromkeys(VARIANTS, server),
            "relay": server,
            "raw": server,
            "mock": client,
        }
    )
    progress("warm-up runs (not counted)")
    for endpoint in (relay, router, direct, raw):
        bench.measure(endpoint, 32, s.warmup_s)
    top = closed_loop(bench, [relay, router], s)
    paced, connections = half_load(bench, router, [relay, direct], top["router"].run.rps, s)
    # (c): the mock is now the service under test, alone on the server core
    bench.place({"mock": server})
    cost = closed_loop(bench, [raw, zero], s)
    rss = psutil.Process(bench.pids["router"]).memory_info().rss / 2**20
    # (d): the mocks back on the client core, each router alone on the server core
    bench.place({"mock": client})
    variants = variant_cost(bench, s)
    return Results(top, paced, cost, connections, bench.served["router"], rss, variants)


# --- report ------------------------------------------------------------------------------


def run_figures(prefix: str, m: Measured) -> dict[str, Any]:
    run = m.run
    return {
        f"{prefix}_rps": round(run.rps, 1),
        f"{prefix}_p50_ms": run.p50_ms,
        f"{prefix}_p99_ms": run.p99_ms,
        f"{prefix}_connections": run.connections,
        f"{prefix}_rps_per_cpu": round(m.rps_per_cpu, 1),
        f"{prefix}_cpu_share": round(run.cpu_share(m.endpoint.server), 3),
    }


def figures(r: Results, s: Settings, bench: Bench) -> dict[str, Any]:
    """The JSON figures (the table shows the same)."""
    relay, router = r.top["relay"], r.top["router"]
    p_relay, p_router, p_mock = (
        r.paced[k].run for k in ("relay", "router", f"mock {RELAY_ACQUIRER}")
    )
    raw, mock = r.cost["raw handler"], r.cost[f"mock {ZERO_ACQUIRER}"]
    out: dict[str, Any] = {
        **run_figures("relay", relay),
        **run_figures("router", router),
        **run_figures("raw", raw),
        **run_figures("mock", mock),
        "ratio": round(router.run.rps / relay.run.rps, 3),
        "ratio_cpu": round(router.rps_per_cpu / relay.rps_per_cpu, 3),
        "mock_cost_ratio": round(raw.run.rps / mock.run.rps, 3),
        "mock_cost_ratio_cpu": round(raw.rps_per_cpu / mock.rps_per_cpu, 3),
        "router_added_p50_ms": round(p_router.p50_ms - p_relay.p50_ms, 3),
        "router_added_vs_mock_p50_ms": round(p_router.p50_ms - p_mock.p50_ms, 3),
        "paced_connections": r.paced_connections,
        "paced_think_ms": s.think_ms,
        "upstream_attempts_per_payment": round(router.upstream_per_payment, 4),
        "client_core_share_at_router_max": round(
            router.run.cpu_share("mock") + router.run.cpu_share("wrk"), 3
        ),
        "client_core_share_at_relay_max": round(
            relay.run.cpu_share("mock") + relay.run.cpu_share("wrk"), 3
        ),
        "invalid_responses": sum(m.run.invalid for m in r.all_runs),
        "measured_requests": sum(m.run.requests for m in r.all_runs),
        "router_payments_held": r.router_payments,
        "router_rss_mb": round(r.router_rss_mb, 1),
        "pinned": bench.server_cpus is not None,
        "server_cpus": sorted(bench.server_cpus or []),
        "client_cpus": sorted(bench.client_cpus or []),
        "durations_s": [s.duration_s, s.paced_s],
        "connection_counts": list(s.connections),
        "repeats": s.repeats,
        **variant_figures(r.variants),
    }
    for label, run in (("relay", p_relay), ("router", p_router), ("mock", p_mock)):
        out.update(
            {
                f"paced_{label}_rps": round(run.rps, 1),
                f"paced_{label}_p50_ms": run.p50_ms,
                f"paced_{label}_p99_ms": run.p99_ms,
            }
        )
    return out


def report(r: Results, f: dict[str, Any], bench: Bench) -> None:
    rows = [m.describe() for m in r.all_runs]
    think = f["paced_think_ms"]
    server, client = bench.server_cpus, bench.client_cpus
    rows += [
        (
            "router / relay throughput",
            fmt(f["ratio"], 2),
            f"best closed-loop rates; per CPU second of each: {fmt(f['ratio_cpu'], 2)}",
        ),
        (
            "router-added p50 (ms)",
            fmt(f["router_added_p50_ms"], 2),
            f"router p50 - relay p50; paced: {f['paced_connections']} connections, think "
            f"0-{2 * think} ms, the router at ~half its max",
        ),
        (
            "router-added p50 vs mock (ms)",
            fmt(f["router_added_vs_mock_p50_ms"], 2),
            f"router p50 - p50 of {RELAY_ACQUIRER} hit directly, same pacing",
        ),
        (
            "mock cost ratio",
            fmt(f["mock_cost_ratio"], 2),
            f"raw handler rps / {ZERO_ACQUIRER} rps (fixed 0 ms); per CPU second: "
            f"{fmt(f['mock_cost_ratio_cpu'], 2)}",
        ),
        *variant_rows(f),
        (
            "upstream attempts per payment",
            fmt(f["upstream_attempts_per_payment"], 3),
            "router's best run: mock authorisations / wrk answers",
        ),
        (
            "answers not 200 with a valid body",
            str(f["invalid_responses"]),
            f"of {f['measured_requests']:,} measured requests",
        ),
        (
            "router RSS (MB)",
            fmt(f["router_rss_mb"]),
            f"at the end, holding the records of {f['router_payments_held']:,} payments",
        ),
        (
            "placement",
            "",
            f"service under test on cpu {sorted(server)}, wrk (and mocks in "
            f"a, b) on cpu {sorted(client)}"
            if server and client
            else "not pinned",
        ),
    ]
    print_figures("router benchmark (wrk, loopback)", rows)
    busy = max(f["client_core_share_at_router_max"], f["client_core_share_at_relay_max"])
    if bench.client_cpus and busy > BUSY_CORE:
        err.print(
            f"[yellow]note: the mocks + wrk core was {busy:.0%} busy at a maximum: "
            "the mocks may have capped that rate[/yellow]"
        )


def targets(f: dict[str, Any]) -> list[Target]:
    return [
        Target("router / relay throughput", f["ratio"], TARGET_RATIO, ">=", "x"),
        Target("router payments/s (one process)", f["router_rps"], TARGET_ROUTER_RPS, ">=", "/s"),
        Target(
            "router-added p50 at half load",
            f["router_added_p50_ms"],
            TARGET_ADDED_P50_MS,
            "<=",
            "ms",
        ),
        Target("mock cost (raw rps / mock rps)", f["mock_cost_ratio"], TARGET_MOCK_COST, "<=", "x"),
        *variant_targets(f),
        Target("answers not 200 with a valid body", f["invalid_responses"], 0, "<="),
    ]


def variants_only(bench: Bench, s: Settings) -> tuple[dict[str, Any], list[Target]]:
    """(d) alone, after a warm-up of every router."""
    bench.place({"mock": bench.client_cpus})
    progress("warm-up runs (not counted)")
    for endpoint in router_endpoints(bench):
        bench.measure(endpoint, 32, s.warmup_s)
    runs = variant_cost(bench, s)
    found = variant_figures(runs)
    rows = [m.describe() for m in runs.values()]
    rows += variant_rows(found)
    print_figures("router benchmark (d): the router with its journal, with its attempt log", rows)
    found["invalid_responses"] = sum(m.run.invalid for m in runs.values())
    found["only"] = "variants"
    return found, variant_targets(found)


def settings_from(args: argparse.Namespace) -> Settings:
    s = QUICK if args.quick else FULL
    if args.duration:
        s = replace(s, duration_s=args.duration, paced_s=args.duration)
    if args.connections:
        s = replace(s, connections=tuple(int(c) for c in args.connections.split(",")))
    if args.repeats:
        s = replace(s, repeats=args.repeats)
    if args.think_ms:
        s = replace(s, think_ms=args.think_ms)
    return s


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--duration", type=float, help="seconds per run (closed and paced)")
    parser.add_argument("--connections", help="closed-loop connection counts, e.g. 16,64,256")
    parser.add_argument("--repeats", type=int, help="runs per connection count / paced endpoint")
    parser.add_argument("--think-ms", type=int, help="mean think time of the paced runs")
    parser.add_argument("--no-pin", action="store_true", help="let the OS place processes")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--only",
        choices=["all", "variants", "journal"],
        default="all",
        help="variants (or journal): only (d), the router with and without its journal "
        "and its attempt log",
    )
    args = parser.parse_args(argv)
    if wrk_executable() is None:
        err.print(
            "bench_router needs wrk, the HTTP load generator: install it with "
            "`apt-get install -y wrk` (Debian/Ubuntu) and run again."
        )
        return EXIT_NO_WRK
    s = settings_from(args)
    # SIGTERM unwinds like Ctrl-C, so every process is stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = environment()
    os.environ.pop(TOKEN_ENV, None)  # the stack gets its own token
    with (
        tempfile.TemporaryDirectory(prefix="bench_router_") as tmp,
        running(Path(tmp), pinning=not args.no_pin) as bench,
    ):
        if args.only in ("variants", "journal"):
            found, checks = variants_only(bench, s)
        else:
            results = measure_all(bench, s)
            found = figures(results, s, bench)
            report(results, found, bench)
            checks = targets(found)
    found.update(env, quick=args.quick, loadavg_1m_at_end=round(os.getloadavg()[0], 2))
    print_targets(checks)
    found["passed"] = all(t.passed is not False for t in checks)
    emit_json(found)
    return 1 if args.check and not found["passed"] else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        err.print("interrupted: every process stopped")
        raise SystemExit(130) from None
