"""Running the mock acquirers over real sockets: uvicorn (uvloop + httptools), a CLI, and a
background-thread server for tests and in-process orchestration.

``python -m mock_acquirers --scenario baseline --port 8100`` serves every acquirer of the
scenario; the admin token comes from ``--admin-token`` or ``ROUTELAB_ADMIN_TOKEN`` (one
is generated and printed when neither is given).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import uvicorn

from mock_acquirers.app import MockAcquirerService, create_app
from runtime.serving import LOOPBACK, TOKEN_ENV, add_service_arguments, server_config
from scenarios.loader import ScenarioError, load_scenario

DEFAULT_PORT = 8100


def run_mock_acquirers(
    scenario_path: str | Path,
    host: str = LOOPBACK,
    port: int = DEFAULT_PORT,
    *,
    admin_token: str | None = None,
    time_scale: float = 1.0,
    seed: int | None = None,
) -> None:
    """Serve every acquirer of a scenario file until interrupted."""
    scenario = load_scenario(scenario_path)
    token = admin_token or os.environ.get(TOKEN_ENV) or ""
    if not token:
        token = secrets.token_urlsafe(18)
        print(f"mock acquirers: admin token {token}", file=sys.stderr)
    app = create_app(scenario, token, time_scale=time_scale, seed=seed)
    names = ", ".join(f"/{a.name} ({a.dialect})" for a in scenario.acquirers)
    print(
        f"mock acquirers for scenario {scenario.name!r} on http://{host}:{port}: {names}",
        file=sys.stderr,
    )
    # hung attempts answer only after hang_ms: shutdown does not wait for them
    uvicorn.Server(server_config(app, host, port, graceful_shutdown_s=2)).run()


class BackgroundServer:
    """A mock acquirer app served by uvicorn on a thread of its own, for tests and tools.

    ``port=0`` picks a free port; :attr:`port` is the one bound. Use as a context manager.
    """

    def __init__(
        self,
        app: MockAcquirerService,
        host: str = LOOPBACK,
        port: int = 0,
        start_timeout_s: float = 10.0,
    ) -> None:
        self.app = app
        self.host = host
        self._server = uvicorn.Server(
            server_config(app, host, port, graceful_shutdown_s=2, log_level="error")
        )
        self._thread = threading.Thread(target=self._server.run, name="mock-acquirers", daemon=True)
        self._start_timeout_s = start_timeout_s
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"mock acquirer server did not start on {self.host}")
            time.sleep(0.01)
        sockets = self._server.servers[0].sockets if self._server.servers else []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mock_acquirers",
        description="Serve a scenario's acquirers as mock HTTP APIs (iso8583 / psp dialects).",
    )
    add_service_arguments(parser, DEFAULT_PORT)
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="scenario seconds per wall second, to reach incidents sooner (latencies stay real)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the acquirers' random streams (default: the scenario's)",
    )
    args = parser.parse_args(argv)
    if not args.time_scale > 0.0:
        parser.error("--time-scale must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run_mock_acquirers(
            args.scenario,
            host=args.host,
            port=args.port,
            admin_token=args.admin_token,
            time_scale=args.time_scale,
            seed=args.seed,
        )
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0
