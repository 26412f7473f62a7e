"""Running the routing service over real sockets: uvicorn (uvloop + httptools) and its CLI.

``python -m router --scenario baseline --port 8080 --acquirers-url http://127.0.0.1:9100``
routes the scenario's payments to the mock acquirers at that URL. The admin token comes
from ``--admin-token`` or ``ROUTELAB_ADMIN_TOKEN`` (the environment keeps it out of
``ps``); one is generated and printed when neither is given. SIGTERM or Ctrl-C stops
accepting payments and lets the ones in flight finish before the process exits.

Limits against overload and slow clients: at most ``--max-connections`` client
connections and requests at once (uvicorn's ``limit_concurrency``: above it uvicorn
answers 503), a request head and then its body must each arrive within
``--body-timeout`` seconds (a late head: the connection is closed; a late body: 408
and the connection is closed), and at most ``--max-in-flight`` payments are routed at
once (else 503 with Retry-After, before anything is done).

``--journal PATH`` journals every payment in an SQLite file (created if missing): a
router restarted on the same file answers every key it knew with its first answer and
settles every attempt a crash left open before serving new payments
(``router.recovery``). Without it the router keeps everything in memory.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from router.app import RouterSettings, create_app
from router.engine.registry import check_strategies
from router.head_deadline import protocol_with_head_deadline
from router.logs import configure_logging
from runtime.serving import TOKEN_ENV, add_service_arguments, server_config
from scenarios.loader import ScenarioError, load_scenario
from scenarios.schema import Scenario

DEFAULT_PORT = 8080
DEFAULT_ACQUIRERS_URL = "http://127.0.0.1:9100"
EXIT_BAD_INPUT = 2
# client connections: above a load test's own (1,000 in flight per Locust process) and
# clear of common open-file limits, with the pool's own connections on top
DEFAULT_MAX_CONNECTIONS = 4096


def run_router(
    scenario: Scenario,
    host: str,
    port: int,
    *,
    admin_token: str,
    settings: RouterSettings,
    log_level: str = "info",
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> None:
    """Serve the routing service for a scenario until SIGTERM or Ctrl-C."""
    configure_logging(log_level)
    app = create_app(scenario, admin_token, settings=settings)
    # payments in flight may need a whole budget, plus settling an unknown outcome
    # (void, status inquiry, void again), to finish cleanly
    retry = scenario.policy(settings.policy).retry
    settle_ms = 2 * retry.void_timeout_ms + retry.status_timeout_ms
    graceful_s = int((retry.budget_ms + settle_ms) / 1000.0 + 5)
    # logging is configured above (JSON lines): uvicorn leaves it alone
    config = server_config(
        app,
        host,
        port,
        graceful_shutdown_s=graceful_s,
        log_level=None,
        log_config=None,
        limit_concurrency=max_connections,  # router only: the mocks keep no cap
    )
    # a request head must arrive within the body deadline too (router.head_deadline)
    config.http = protocol_with_head_deadline(settings.body_timeout_s)
    uvicorn.Server(config).run()


def check_journal(path: str) -> str:
    """Why ``path`` cannot hold the payment journal ("" when it can); makes its folder."""
    target = Path(path)
    if target.is_dir():
        return "is a folder; give a file path"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(target)
        try:
            connection.execute("PRAGMA schema_version").fetchone()
        finally:
            connection.close()
    except (OSError, sqlite3.Error) as exc:
        return str(exc)
    return ""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m router",
        description="Route card payments to acquirers with a scenario's routing policy.",
    )
    add_service_arguments(parser, DEFAULT_PORT)
    parser.add_argument(
        "--acquirers-url",
        default=DEFAULT_ACQUIRERS_URL,
        help=f"base URL of the acquirer APIs (default {DEFAULT_ACQUIRERS_URL})",
    )
    parser.add_argument(
        "--policy",
        default=None,
        help="routing policy to start with (default: the scenario's first)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the routing randomness (default: the scenario's)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=None,
        help="connection pool size towards the acquirers (default: Little's "
        "law on the scenario's peak rate and attempt timeout)",
    )
    parser.add_argument(
        "--max-payments",
        type=int,
        default=1_000_000,
        help="payments kept for look-ups and reconciliation (about 1.6 KB each; the "
        "oldest records go first) and idempotency keys kept (never one inside its 24 h "
        "retention: when full, new payments get 503 with Retry-After)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="payments routed at once; above it new payments get 503 with Retry-After "
        "(default: the connection pool's size)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help=f"client connections and requests at once (default {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=RouterSettings.body_timeout_s,
        help="seconds a request's head (from the connection opening), then its body, may "
        "take to arrive; then the connection is closed (a late body gets 408 first) "
        f"(default {RouterSettings.body_timeout_s:g})",
    )
    parser.add_argument(
        "--pool-wait",
        type=float,
        default=None,
        help="seconds an acquirer call may wait for a pooled connection before failing "
        "as the router's own overload (default: the policy's attempt timeout)",
    )
    parser.add_argument(
        "--journal",
        default=None,
        metavar="PATH",
        help="payment journal file (SQLite, created if missing): with it a restarted "
        "router replays every idempotency key and settles every attempt a crash left "
        "open (default: none, everything in memory)",
    )
    parser.add_argument(
        "--attempt-log",
        default=None,
        metavar="PATH",
        help="write one row per attempt to PATH (Parquet; CSV for a .csv name), off the "
        "request path (default: none)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    args = parser.parse_args(argv)
    for name in ("connections", "max_in_flight"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_payments < 1:
        parser.error("--max-payments must be at least 1")
    if args.max_connections < 1:
        parser.error("--max-connections must be at least 1")
    if not args.body_timeout > 0.0:
        parser.error("--body-timeout must be positive")
    if args.pool_wait is not None and not args.pool_wait > 0.0:
        parser.error("--pool-wait must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
        scenario.policy(args.policy)  # an unknown policy fails before anything starts
        check_strategies(scenario, args.scenario, live=True)
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyError as exc:
        print(f"{args.scenario}: {exc.args[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.journal is not None:
        problem = check_journal(args.journal)
        if problem:
            print(f"--journal {args.journal}: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if args.attempt_log is not None:
        folder = Path(args.attempt_log).resolve().parent
        if not folder.is_dir():
            print(f"--attempt-log {args.attempt_log}: no such folder {folder}", file=sys.stderr)
            return EXIT_BAD_INPUT
    token = args.admin_token or os.environ.get(TOKEN_ENV) or ""
    if not token:
        token = secrets.token_urlsafe(18)
        print(f"router: admin token {token}", file=sys.stderr)
    settings = RouterSettings(
        acquirers_url=args.acquirers_url,
        policy=args.policy,
        seed=args.seed,
        connections=args.connections,
        max_in_flight=args.max_in_flight,
        pool_wait_s=args.pool_wait,
        body_timeout_s=args.body_timeout,
        max_payments=args.max_payments,
        journal_path=args.journal,
        attempt_log_path=args.attempt_log,
    )
    run_router(
        scenario,
        args.host,
        args.port,
        admin_token=token,
        settings=settings,
        log_level=args.log_level,
        max_connections=args.max_connections,
    )
    return 0
