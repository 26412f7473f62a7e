"""Simulator speed and memory benchmark: routelab against a naive SimPy model of the same traffic.

In one run it measures

(a) routelab's simulated payments per second on one core, on ``bench_scenario.yaml``
    (three acquirers, ``sr_window`` routing, cascades), median of several repeats, and
    the same with the slowest of the other shipped strategies (``SLOWEST_STRATEGY``);
(b) the same figure for a naive reference SimPy model written below: one process per
    payment, a ``simpy.Resource`` per acquirer, stdlib ``random`` per draw, routing by a
    per-acquirer success counter, one cascade on a decline, an error or no answer. Like
    routelab, it bounds every attempt by the router's attempt timeout (hung requests
    really hang, so the timeout is what ends them): that is the model the ratio target
    is judged against. The same model without attempt timeouts (a hung request is then
    waited out) is measured too, as a reference for a simpler system;
(c) the peak RSS and the speed of a 1,000,000-payment routelab run, in a fresh
    subprocess so that the peak is that run's own.

It prints the figures, the ratio routelab / naive and the targets with PASS/FAIL, and
ends with exactly one line holding a JSON object. Run from the repository root::

    .venv/bin/python benchmarks/bench_simulator.py            # full, about a minute
    .venv/bin/python benchmarks/bench_simulator.py --quick    # smoke test, seconds
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import simpy
from _common import (
    Repeats,
    Target,
    emit_json,
    environment,
    fmt,
    print_figures,
    print_targets,
    progress,
    repeat,
    run_child,
    self_rss_mb,
    timed,
)

from mock_acquirers.behaviour import IssuerModel
from scenarios.loader import load_scenario
from scenarios.sampler import Payment
from scenarios.schema import (
    ConstantArrivals,
    LognormalLatency,
    RoutingPolicy,
    Scenario,
    SrWindowStrategy,
)
from simulator import simulate

SCENARIO_PATH = Path(__file__).resolve().parent / "bench_scenario.yaml"

TARGET_PPS = 150_000.0  # simulated payments per second on one core
TARGET_RATIO = 5.0  # routelab over the naive model
TARGET_RSS_MB = 500.0  # peak RSS of a 1M-payment run
MEMORY_RUN_TARGET_PAYMENTS = 1_000_000

FULL = {"payments": 250_000, "repeats": 3, "memory_payments": MEMORY_RUN_TARGET_PAYMENTS}
QUICK = {"payments": 20_000, "repeats": 3, "memory_payments": 100_000}
WARMUP_PAYMENTS = 3_000  # an untimed first run of each model: imports, caches, allocator

# The slowest strategy routelab ships besides sr_window, with its defaults (hierarchical:
# three levels of Beta counts and a posterior draw per candidate), timed on the same traffic
SLOWEST_STRATEGY: dict[str, Any] = {"type": "hierarchical"}

# The naive model cascades once on a decline: the simplest cascade a hand-written model has.
NAIVE_MAX_ATTEMPTS = 2

Run = Callable[[], tuple[int, dict[str, Any]]]


# --- the scenario ----------------------------------------------------------------------


def scenario_for(payments: int, path: Path = SCENARIO_PATH) -> Scenario:
    """The benchmark scenario stretched so that about ``payments`` payments arrive.

    Warm-up is set to zero so that every simulated payment is counted.
    """
    scenario = load_scenario(path)
    arrival = scenario.traffic.arrival
    if not isinstance(arrival, ConstantArrivals):
        raise SystemExit(f"{path}: the benchmark needs a constant arrival rate")
    traffic = scenario.traffic.model_copy(update={"duration_s": payments / arrival.rate_per_s})
    return scenario.model_copy(update={"traffic": traffic, "warmup_s": 0.0})


def with_strategy(scenario: Scenario, strategy: dict[str, Any]) -> Scenario:
    """The scenario with its first policy routing by ``strategy`` instead."""
    policy = scenario.policy()
    changed = RoutingPolicy.model_validate(
        {**policy.model_dump(), "name": "slowest", "strategy": strategy}
    )
    return scenario.with_policy(changed)


# --- (a) routelab ----------------------------------------------------------------------


def routelab_run(scenario: Scenario, seed: int) -> Run:
    """One routelab replication through the public API; returns payments simulated."""

    def run() -> tuple[int, dict[str, Any]]:
        summary = simulate(scenario, seed=seed, replications=1).summary
        return summary.payments, {
            "auth_rate": summary.auth_rate,
            "attempts_per_payment": summary.attempts_per_payment,
            "cascaded": summary.cascade["cascaded"],
        }

    return run


# --- (b) the naive reference model -----------------------------------------------------


@dataclass
class NaiveAcquirer:
    """An acquirer as a quick hand-written model sees it."""

    name: str
    resource: simpy.Resource
    mu: float  # log of the median latency in ms
    sigma: float
    error_rate: float  # technical errors: an error answer after the usual latency
    hang_rate: float  # hung requests: no answer for hang_s
    hang_s: float
    approval: dict[tuple[str, str, bool], float]  # by (network, card type, cross-border)
    successes: int = 0
    judged: int = 0  # attempts that say something about the acquirer

    def score(self) -> float:
        return (self.successes + 1) / (self.judged + 2)


@dataclass
class NaiveTally:
    payments: int = 0
    approved: int = 0
    attempts: int = 0
    latency_sum_ms: float = 0.0


def _representative(
    network: str, card_type: str, cross_border: bool, home: str, foreign: str
) -> Payment:
    # Only network, card type and cross-border vary: conditions on amount, currency or
    # BIN would be judged at one fixed value (the benchmark scenario uses none).
    return Payment(
        amount=5_000,
        currency="EUR",
        network=network,
        card_type=card_type,
        issuer_country=foreign if cross_border else home,
        bin="400000",
        cross_border=cross_border,
    )


def naive_run(scenario: Scenario, seed: int, race_timeout: bool = False) -> Run:
    """The naive SimPy model of the scenario's traffic; returns payments simulated.

    Per-segment probabilities are tabulated once at set-up from the scenario (a lookup
    per draw, as a hand-written model would hard-code them); everything per payment is
    plain SimPy and stdlib ``random``. Hung requests (the acquirer's ``timeout_rate``)
    hold their slot for ``hang_ms``, as in routelab. ``race_timeout`` races each attempt,
    queueing included, against the policy's attempt timeout (``yield slot | deadline``,
    then ``yield answer | deadline``), as a hand-written model that handles timeouts
    would, without knowing in advance whether a queue will build: the like-for-like
    model. Without it, the model leaves out attempt timeouts, voids and the latency
    budget (a hung request is waited out): a simpler system, measured for reference.
    """
    traffic = scenario.traffic
    mix = traffic.mix
    home = scenario.merchant.country
    foreign = next((c for c in mix.issuer_countries if c != home), "XX")
    keys = [(n, c, x) for n in mix.networks for c in mix.card_types for x in (False, True)]
    samples = {k: _representative(*k, home, foreign) for k in keys}
    issuer = IssuerModel(traffic.issuer_declines)
    issuer_decline_p = {k: issuer.decline_probability(p) for k, p in samples.items()}
    approval_tables = []
    for acquirer in scenario.acquirers:
        model = acquirer.approval
        approval_tables.append(
            {
                k: min(
                    1.0,
                    max(0.0, model.base + sum(e.delta for e in model.effects if e.when.matches(p))),
                )
                for k, p in samples.items()
            }
        )
    strategy = scenario.policy().strategy
    exploration = strategy.exploration if isinstance(strategy, SrWindowStrategy) else 0.05
    timeout_s = scenario.policy().retry.attempt_timeout_ms / 1000.0
    arrival = traffic.arrival
    assert isinstance(arrival, ConstantArrivals)  # scenario_for checked it
    rate, duration = arrival.rate_per_s, traffic.duration_s
    networks, network_w = list(mix.networks), list(mix.networks.values())
    card_types, card_type_w = list(mix.card_types), list(mix.card_types.values())
    countries, country_w = list(mix.issuer_countries), list(mix.issuer_countries.values())
    amount = mix.amount
    amount_mu = math.log(getattr(amount, "median", 4_500.0))
    amount_sigma = getattr(amount, "sigma", 0.0)

    def run() -> tuple[int, dict[str, Any]]:
        rng = random.Random(seed)
        env = simpy.Environment()
        acquirers = []
        for acquirer, table in zip(scenario.acquirers, approval_tables, strict=True):
            latency = acquirer.latency
            if not isinstance(latency, LognormalLatency):
                raise SystemExit(f"{acquirer.name}: the naive model needs lognormal latency")
            acquirers.append(
                NaiveAcquirer(
                    acquirer.name,
                    simpy.Resource(env, capacity=acquirer.capacity),
                    math.log(latency.median_ms),
                    latency.sigma,
                    acquirer.technical_error_rate,
                    acquirer.timeout_rate,
                    acquirer.hang_ms / 1000.0,
                    table,
                )
            )
        tally = NaiveTally()

        def payment() -> Generator[simpy.Event, Any, None]:
            t0 = env.now
            network = rng.choices(networks, network_w)[0]
            card_type = rng.choices(card_types, card_type_w)[0]
            country = rng.choices(countries, country_w)[0]
            segment = (network, card_type, country != home)
            rng.lognormvariate(amount_mu, amount_sigma)  # the amount, drawn as a real model would
            issuer_declines = rng.random() < issuer_decline_p[segment]
            if rng.random() < exploration:
                order = rng.sample(acquirers, len(acquirers))
            else:
                order = sorted(acquirers, key=NaiveAcquirer.score, reverse=True)
            approved = False
            for acq in order[:NAIVE_MAX_ATTEMPTS]:
                tally.attempts += 1
                timed_out = False
                fault = rng.random()
                hung = fault < acq.hang_rate
                with acq.resource.request() as slot:
                    if hung:
                        service_s = acq.hang_s
                    else:
                        service_s = rng.lognormvariate(acq.mu, acq.sigma) / 1000.0
                    if race_timeout:
                        # the router gives up after the attempt timeout, queueing included
                        deadline = env.timeout(timeout_s)
                        yield slot | deadline
                        timed_out = not slot.triggered
                        if not timed_out:
                            answer = env.timeout(service_s)
                            yield answer | deadline
                            timed_out = not answer.processed
                    else:
                        yield slot
                        yield env.timeout(service_s)
                if timed_out or hung or fault < acq.hang_rate + acq.error_rate:
                    acq.judged += 1
                    continue  # technical error or no answer: cascade
                if issuer_declines:
                    break  # the card's own decline: no cascade, and not the acquirer's fault
                acq.judged += 1
                if rng.random() < acq.approval[segment]:
                    acq.successes += 1
                    approved = True
                    break
            tally.payments += 1
            tally.approved += approved
            tally.latency_sum_ms += (env.now - t0) * 1000.0

        def source() -> Generator[simpy.Event, Any, None]:
            while True:
                yield env.timeout(rng.expovariate(rate))
                if env.now >= duration:
                    return
                env.process(payment())

        env.process(source())
        env.run()
        return tally.payments, {
            "auth_rate": tally.approved / tally.payments,
            "attempts_per_payment": tally.attempts / tally.payments,
        }

    return run


# --- (c) the memory run, in its own process --------------------------------------------


def memory_child(payments: int, seed: int) -> None:
    """Body of the child process: one routelab run of ``payments``; prints a JSON line."""
    scenario = scenario_for(payments)
    rss_before = self_rss_mb()  # interpreter, libraries and scenario, before simulating
    result = timed(routelab_run(scenario, seed))
    print(
        json.dumps(
            {
                "payments": result.work,
                "wall_s": round(result.wall_s, 3),
                "cpu_s": round(result.cpu_s, 3),
                "pps": round(result.rate, 1),
                "rss_before_run_mb": round(rss_before, 1),
            }
        )
    )


def memory_run(payments: int, seed: int) -> dict[str, Any]:
    """Run :func:`memory_child` in a fresh interpreter; its figures plus its peak RSS."""
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--memory-child",
        str(payments),
        "--seed",
        str(seed),
    ]
    child = run_child(argv)
    if child.returncode != 0:
        raise SystemExit(f"the memory run failed with exit code {child.returncode}")
    return {**child.last_json(), "peak_rss_mb": round(child.peak_rss_mb, 1)}


# --- the report ------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK['payments']:,} payments, "
        f"memory run of {QUICK['memory_payments']:,}",
    )
    parser.add_argument(
        "--payments",
        type=int,
        default=None,
        help=f"payments per timed run (default {FULL['payments']:,})",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed runs per model; the median is reported"
    )
    parser.add_argument(
        "--memory-payments",
        type=int,
        default=None,
        help=f"payments in the memory run (default {MEMORY_RUN_TARGET_PAYMENTS:,})",
    )
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a measured target fails"
    )
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for name in ("payments", "repeats", "memory_payments"):
        if getattr(args, name) is None:
            setattr(args, name, preset[name])
    if args.payments < 1_000 or args.repeats < 1 or args.memory_payments < 1_000:
        parser.error("need --payments >= 1000, --repeats >= 1, --memory-payments >= 1000")
    return args


@dataclass(frozen=True)
class Measurements:
    """What one benchmark run measured."""

    routelab: Repeats
    slowest: Repeats  # routelab with SLOWEST_STRATEGY on the same traffic
    naive: Repeats  # like for like: each attempt raced against the attempt timeout
    naive_plain: Repeats  # the same without attempt timeouts: a simpler system, for reference
    memory: dict[str, Any]  # the memory child's figures plus its peak RSS


def measure(args: argparse.Namespace) -> Measurements:
    """Run the three measurements: routelab speed, naive speed, the memory run."""
    scenario = scenario_for(args.payments)
    warmup = scenario_for(WARMUP_PAYMENTS)
    progress(
        f"scenario {scenario.name}: {args.payments:,} payments per run, "
        f"{args.repeats} runs per model"
    )
    routelab_run(warmup, args.seed)()
    naive_run(warmup, args.seed, race_timeout=True)()
    slowest = with_strategy(scenario, SLOWEST_STRATEGY)
    routelab_run(with_strategy(warmup, SLOWEST_STRATEGY), args.seed)()
    timings = repeat(
        {
            "routelab": routelab_run(scenario, args.seed),
            "slowest": routelab_run(slowest, args.seed),
            "naive": naive_run(scenario, args.seed, race_timeout=True),
            "naive_plain": naive_run(scenario, args.seed, race_timeout=False),
        },
        args.repeats,
    )
    progress(f"memory run: {args.memory_payments:,} payments in a fresh process")
    memory = memory_run(args.memory_payments, args.seed)
    return Measurements(
        timings["routelab"], timings["slowest"], timings["naive"], timings["naive_plain"], memory
    )


def report(args: argparse.Namespace, m: Measurements) -> list[Target]:
    """Print the figures and targets tables; returns the targets."""
    routelab, naive, memory = m.routelab, m.naive, m.memory
    ratio = routelab.median_rate / naive.median_rate
    ratio_plain = routelab.median_rate / m.naive_plain.median_rate
    full_memory_run = args.memory_payments >= MEMORY_RUN_TARGET_PAYMENTS
    r_ex, n_ex = routelab.median_run.extra, naive.median_run.extra

    def spread(rep: Repeats) -> str:
        low, high = rep.spread
        return (
            f"median of {len(rep.runs)} runs of {rep.median_run.work:,} payments; "
            f"range {fmt(low)}-{fmt(high)}; cpu/wall {rep.cpu_share:.0%}"
        )

    print_figures(
        f"simulator benchmark ({SCENARIO_PATH.name})",
        [
            ("routelab simulated payments/s", fmt(routelab.median_rate), spread(routelab)),
            (
                "naive SimPy payments/s (attempt timeouts)",
                fmt(naive.median_rate),
                spread(naive),
            ),
            (
                "ratio routelab / naive",
                f"{ratio:.2f}x",
                "like for like: both bound each attempt by the router's attempt timeout",
            ),
            (
                f"routelab payments/s, {SLOWEST_STRATEGY['type']} (slowest strategy) / ratio",
                f"{fmt(m.slowest.median_rate)} / {m.slowest.median_rate / naive.median_rate:.2f}x",
                f"{spread(m.slowest)}; ratio to the naive model of this run",
            ),
            (
                "naive SimPy payments/s without timeouts",
                fmt(m.naive_plain.median_rate),
                spread(m.naive_plain),
            ),
            (
                "ratio routelab / naive without timeouts",
                f"{ratio_plain:.2f}x",
                "reference only: that model leaves out a part of the system routelab models",
            ),
            (
                "payments per CPU second: routelab / naive",
                f"{fmt(routelab.median_cpu_rate)} / {fmt(naive.median_cpu_rate)}",
                "CPU time instead of wall time: what one idle core would do",
            ),
            (
                "routelab auth rate / attempts per payment",
                f"{r_ex['auth_rate']:.4f} / {r_ex['attempts_per_payment']:.3f}",
                f"sr_window, up to 3 attempts; {r_ex['cascaded']:,} payments cascaded",
            ),
            (
                "naive auth rate / attempts per payment",
                f"{n_ex['auth_rate']:.4f} / {n_ex['attempts_per_payment']:.3f}",
                "success counter, one cascade: comparable work per payment",
            ),
            ("memory run payments", fmt(memory["payments"]), "fresh subprocess, one replication"),
            (
                "memory run peak RSS (MB)",
                fmt(memory["peak_rss_mb"], 1),
                f"of which {memory['rss_before_run_mb']:.1f} MB before the run "
                "(interpreter, libraries, scenario)",
            ),
            (
                "memory run payments/s",
                fmt(memory["pps"]),
                f"{memory['wall_s']:.1f} s wall, cpu/wall {memory['cpu_s'] / memory['wall_s']:.0%}",
            ),
        ],
    )
    targets = [
        Target("routelab simulated payments/s (one core)", routelab.median_rate, TARGET_PPS, ">="),
        Target("routelab / naive SimPy", ratio, TARGET_RATIO, ">=", "x"),
        Target(
            "peak RSS, 1M-payment run",
            memory["peak_rss_mb"] if full_memory_run else None,
            TARGET_RSS_MB,
            "<=",
            "MB",
        ),
    ]
    print_targets(targets)
    if not full_memory_run:
        progress(f"memory run asked for {args.memory_payments:,} payments (< 1M): target n/a")
    return targets


def figures_json(
    args: argparse.Namespace, m: Measurements, targets: list[Target], env: dict[str, Any]
) -> dict[str, Any]:
    """The machine-readable figures for the final line."""
    routelab, naive, memory = m.routelab, m.naive, m.memory
    full_memory_run = args.memory_payments >= MEMORY_RUN_TARGET_PAYMENTS
    return {
        "benchmark": "simulator",
        "quick": args.quick,
        "seed": args.seed,
        "payments_per_run": routelab.median_run.work,
        "repeats": len(routelab.runs),
        "routelab_pps": round(routelab.median_rate, 1),
        "routelab_pps_runs": [round(r, 1) for r in routelab.rates],
        "routelab_cpu_share": round(routelab.cpu_share, 3),
        "slowest_strategy": SLOWEST_STRATEGY["type"],
        "slowest_pps": round(m.slowest.median_rate, 1),
        "slowest_ratio": round(m.slowest.median_rate / naive.median_rate, 3),
        "naive_pps": round(naive.median_rate, 1),
        "naive_variant": "attempt-timeout race",
        "naive_pps_runs": [round(r, 1) for r in naive.rates],
        "naive_cpu_share": round(naive.cpu_share, 3),
        "ratio": round(routelab.median_rate / naive.median_rate, 3),
        "naive_plain_pps": round(m.naive_plain.median_rate, 1),
        "ratio_plain": round(routelab.median_rate / m.naive_plain.median_rate, 3),
        "naive_plain_pps_cpu": round(m.naive_plain.median_cpu_rate, 1),
        # per CPU second: steadier than wall time when other processes share the cores
        "routelab_pps_cpu": round(routelab.median_cpu_rate, 1),
        "naive_pps_cpu": round(naive.median_cpu_rate, 1),
        "ratio_cpu": round(routelab.median_cpu_rate / naive.median_cpu_rate, 3),
        "routelab_auth_rate": routelab.median_run.extra["auth_rate"],
        "naive_auth_rate": round(naive.median_run.extra["auth_rate"], 6),
        "memory_run_payments": memory["payments"],
        "peak_rss_mb": memory["peak_rss_mb"],
        "rss_before_run_mb": memory["rss_before_run_mb"],
        "pps_memory_run": memory["pps"],
        # the 1M figures are only filled in when the memory run really had 1M payments
        "peak_rss_mb_1m": memory["peak_rss_mb"] if full_memory_run else None,
        "pps_1m": memory["pps"] if full_memory_run else None,
        "targets": {"pps": TARGET_PPS, "ratio": TARGET_RATIO, "peak_rss_mb_1m": TARGET_RSS_MB},
        "passed": {
            key: t.passed
            for key, t in zip(("pps", "ratio", "peak_rss_mb_1m"), targets, strict=True)
        },
        **env,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.memory_child, args.seed)
        return 0
    env = environment()
    progress(
        f"python {env['python']}, {env['cpu_count']} cpus, "
        f"load {env['loadavg_1m_at_start']} at start"
    )
    measured = measure(args)
    targets = report(args, measured)
    emit_json(figures_json(args, measured, targets, env))
    failed = any(t.passed is False for t in targets)
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
