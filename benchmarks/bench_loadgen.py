"""Load generator benchmark: the offered rate routelab's open-model Locust harness holds.

Against a trivial endpoint (a raw ASGI handler under uvicorn on 127.0.0.1 that reads
the body and answers a constant approved payment), it measures

(a) **held_rate**: the highest offered rate the harness (``loadtests/locustfile.py``,
    open model, ``--processes`` workers) achieves within 1 %: achieved / offered >=
    0.99, no failed request, no dropped arrival, and at most 1 % of sends more than
    10 ms behind their Poisson schedule (an open-model generator that sends late is
    not holding the rate it claims, even if the count comes out right). Found by
    stepping the rate up
    by ``--step`` until a step fails, then bisecting between the last step held and the
    first one missed (a missed step is run once more before it counts as missed:
    on a shared machine one stall can spoil a step). Each step is a full headless
    Locust run of ``--duration`` s, the first second left out of the figures;
    offered = arrivals scheduled / measured seconds, achieved = answers / seconds until
    the last send (a generator that falls behind stretches that window);
(b) **wrk_rate**: the maximum rate of ``wrk`` (closed loop, ``--wrk-threads`` threads,
    ``--wrk-connections`` connections) sending the same request to the same endpoint:
    a C reference of what this machine's loopback and server allow. It runs before and
    after the search and the higher figure counts (the machine is shared).

It prints both, the ratio held / wrk and each step, and ends with one JSON line::

    .venv/bin/python benchmarks/bench_loadgen.py            # full: a few minutes
    .venv/bin/python benchmarks/bench_loadgen.py --quick    # smoke test, about a minute
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from _common import emit_json, environment, fmt, print_figures, progress

from loadtests.live_summary import rate_figures
from loadtests.live_tally import LiveTally
from loadtests.locust_process import locust_command, run_locust
from loadtests.options import HarnessOptions
from loadtests.plan import RunPlan
from runtime.serving import LOOPBACK
from runtime.stack import free_port
from scenarios.loader import BUNDLED_DIR, load_scenario

EXIT_NO_WRK = 2
HOLD_WITHIN = 0.99  # achieved / offered
MAX_LATE_SHARE = 0.01  # sends more than --late-ms (10 ms) behind schedule
WARMUP_S = 1.0  # connections open and the interpreter warms up: left out of the figures
ANSWER = orjson.dumps(
    {
        "payment_id": "pay_bench",
        "status": "approved",
        "acquirer": "acq_a",
        "decline_class": None,
        "code": "00",
        "rule": "default",
        "policy": "bench",
        "policy_version": 1,
        "latency_ms": 0.0,
        "attempts": [
            {
                "acquirer": "acq_a",
                "code": "00",
                "class": "approved",
                "latency_ms": 0.0,
                "key": "bench-1",
            }
        ],
    }
)
FULL = {"duration": 8.0, "start": 400.0, "step": 1.4, "bisect": 2, "max_steps": 12}
QUICK = {"duration": 4.0, "start": 400.0, "step": 1.8, "bisect": 1, "max_steps": 6}


# --- the trivial endpoint (a child process) ---------------------------------------------


async def trivial_payments(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the request body and answers a constant approved payment: the floor."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    message = await receive()
    while message.get("more_body", False):
        message = await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(ANSWER)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": ANSWER})


def serve(port: int) -> None:
    import uvicorn

    from runtime.serving import server_config

    uvicorn.Server(server_config(trivial_payments, LOOPBACK, port)).run()


def start_endpoint() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)], stdin=subprocess.DEVNULL
    )
    url = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + 20.0
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1.0):
                return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the trivial endpoint did not start") from None
            time.sleep(0.1)


# --- the two generators -----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One harness run at one offered rate."""

    target_rate: float
    offered: float
    achieved: float
    errors: int
    dropped: int
    late_share: float
    cpu_share: float | None

    @property
    def held(self) -> bool:
        return (
            self.offered > 0
            and self.achieved >= HOLD_WITHIN * self.offered
            and self.errors == 0
            and self.dropped == 0
            and self.late_share <= MAX_LATE_SHARE
        )


def harness_step(url: str, rate: float, duration_s: float, processes: int, work: Path) -> Step:
    """One headless Locust run of the open-model harness at ``rate`` payments/s."""
    data = yaml.safe_load((BUNDLED_DIR / "baseline.yaml").read_text(encoding="utf-8"))
    data["traffic"]["arrival"] = {"profile": "constant", "rate_per_s": rate}
    data["traffic"]["duration_s"] = duration_s
    data["warmup_s"] = 0.0
    scenario_path = work / f"rate_{rate:.0f}.yaml"
    scenario_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    harness = HarnessOptions(
        scenario=str(scenario_path),
        warmup_s=WARMUP_S,
        results_path=str(work / "results.json"),
        progress_path=str(work / "progress.json"),
    )
    plan = RunPlan.build(load_scenario(scenario_path), harness)
    argv = locust_command(
        host=url,
        harness=harness,
        processes=processes,
        users=processes,
        run_time_s=duration_s + 30.0,
    )
    run = run_locust(
        argv,
        dict(os.environ),
        work / "locust.log",
        work / "progress.json",
        timeout_s=duration_s + 90.0,
    )
    if run.results is None:
        raise RuntimeError(f"Locust gave no results at {rate:.0f}/s:\n{run.log_tail()}")
    tally = LiveTally.from_report(run.results["tally"], plan.warmup_s, plan.bucket_s)
    figures = rate_figures(tally, plan)
    c = tally.counts
    return Step(
        rate,
        figures.offered_rate or 0.0,
        figures.achieved_rate,
        int(c["errors_all"]),
        int(c["dropped_all"]),
        c["late"] / c["sent"] if c["sent"] else 0.0,
        run.cpu_s / run.wall_s if run.cpu_s is not None else None,
    )


def find_held_rate(url: str, args: argparse.Namespace, work: Path) -> list[Step]:
    """Step the rate up until the harness misses it, then bisect."""
    steps: list[Step] = []

    def run(rate: float) -> Step:
        step = harness_step(url, rate, args.duration, args.processes, work)
        progress(
            f"harness at {rate:,.0f}/s: offered {step.offered:,.0f}/s, achieved "
            f"{step.achieved:,.0f}/s ({step.achieved / max(step.offered, 1e-9):.1%}), "
            f"late {step.late_share:.1%}, errors {step.errors}, dropped {step.dropped}"
            f" -> {'held' if step.held else 'missed'}"
        )
        steps.append(step)
        return step

    rate, good, bad = args.start, None, None
    for _ in range(args.max_steps):
        # a miss is tried once more: on a shared machine one stall can spoil a step
        if run(rate).held or run(rate).held:
            good, rate = rate, rate * args.step
        else:
            bad = rate
            break
    if good is not None and bad is not None:
        for _ in range(args.bisect):
            middle = math.sqrt(good * bad)
            if run(middle).held:
                good = middle
            else:
                bad = middle
    return steps


def wrk_rate(url: str, args: argparse.Namespace, work: Path) -> float:
    """wrk's requests per second on the same request (closed loop: its maximum)."""
    body = orjson.dumps(
        {
            "amount": 4500,
            "currency": "EUR",
            "card": {
                "bin": "424242",
                "last4": "4242",
                "network": "visa",
                "type": "debit",
                "issuer_country": "DE",
            },
            "merchant_reference": "bench",
        }
    ).decode()
    script = work / "post.lua"
    script.write_text(
        'wrq = wrk\nwrq.method = "POST"\n'
        f"wrq.body = [[{body}]]\n"
        'wrq.headers["Content-Type"] = "application/json"\n'
        'wrq.headers["Idempotency-Key"] = "bench-wrk"\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            "wrk",
            f"-t{args.wrk_threads}",
            f"-c{args.wrk_connections}",
            f"-d{math.ceil(args.duration)}s",
            "-s",
            str(script),
            url + "/v1/payments",
        ],
        capture_output=True,
        text=True,
        timeout=args.duration + 60,
        check=True,
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if match is None:
        raise RuntimeError(f"cannot read wrk's output:\n{result.stdout}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error answers")
    rate = float(match.group(1))
    progress(f"wrk -t{args.wrk_threads} -c{args.wrk_connections}: {rate:,.0f}/s")
    return rate


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short steps, fewer of them")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="Locust worker processes (default 1: one core, as wrk -t1)",
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds per step")
    parser.add_argument("--start", type=float, default=None, help="first offered rate")
    parser.add_argument("--step", type=float, default=None, help="rate factor per step")
    parser.add_argument("--bisect", type=int, default=None, help="bisection steps at the end")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--wrk-connections", type=int, default=32)
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key.replace("-", "_")) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve is not None:
        serve(args.serve)
        return 0
    if shutil.which("wrk") is None:
        print(
            "error: wrk is not installed (Debian/Ubuntu: apt-get install -y wrk); it is "
            "the reference generator this benchmark compares against",
            file=sys.stderr,
        )
        return EXIT_NO_WRK
    env = environment()
    endpoint, url = start_endpoint()
    try:
        with tempfile.TemporaryDirectory(prefix="bench_loadgen_") as tmp:
            work = Path(tmp)
            # wrk before and after the search: the machine is shared, its load moves
            wrk_runs = [wrk_rate(url, args, work)]
            steps = find_held_rate(url, args, work)
            wrk_runs.append(wrk_rate(url, args, work))
    finally:
        endpoint.terminate()
        endpoint.wait(10)
    wrk = max(wrk_runs)
    held_steps = [s for s in steps if s.held]
    held = max((s.offered for s in held_steps), default=math.nan)
    ratio = held / wrk if wrk > 0 else math.nan
    print_figures(
        "load generator: open-model harness vs wrk (trivial endpoint, loopback)",
        [
            (
                "held_rate",
                f"{fmt(held)}/s",
                f"highest offered rate achieved within "
                f"{(1 - HOLD_WITHIN):.0%} with <= {MAX_LATE_SHARE:.0%} late sends, "
                f"{args.processes} Locust worker process(es)",
            ),
            (
                "wrk_rate",
                f"{fmt(wrk)}/s",
                f"wrk -t{args.wrk_threads} -c{args.wrk_connections}, closed loop: the higher of "
                f"runs before and after the search ({', '.join(fmt(r) for r in wrk_runs)})",
            ),
            ("ratio", fmt(ratio, 3), "held / wrk"),
            *[
                (
                    f"step {s.target_rate:,.0f}/s",
                    f"{fmt(s.achieved)}/s",
                    f"offered {fmt(s.offered)}/s, late {s.late_share:.1%}, errors {s.errors}, "
                    f"dropped {s.dropped}, generator cpu {fmt((s.cpu_share or math.nan) * 100)} % "
                    f"-> {'held' if s.held else 'missed'}",
                )
                for s in steps
            ],
        ],
    )
    # no target is set for this benchmark: it reports what the harness holds next to wrk
    if not held_steps:
        progress(f"not even the starting rate ({fmt(args.start)}/s) was held: held_rate is null")
    emit_json(
        {
            "held_rate": round(held, 1) if held_steps else None,
            "wrk_rate": round(wrk, 1),
            "wrk_runs": [round(r, 1) for r in wrk_runs],
            "ratio": round(ratio, 4) if held_steps else None,
            "processes": args.processes,
            "step_duration_s": args.duration,
            "steps": [
                {
                    "target": round(s.target_rate, 1),
                    "offered": round(s.offered, 1),
                    "achieved": round(s.achieved, 1),
                    "held": s.held,
                    "late_share": round(s.late_share, 4),
                    "errors": s.errors,
                    "dropped": s.dropped,
                }
                for s in steps
            ],
            **env,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
