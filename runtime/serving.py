"""How routelab's HTTP services are served, once for both of them.

The routing service and the mock acquirers run under the same uvicorn settings, and the
benchmarks' reference servers use them too, so that a ratio against a reference server
measures the application and not a difference in server set-up. Both services also take
the same basic command-line options.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a server is configured: the constants stay cheap to import
    import uvicorn

LOOPBACK = "127.0.0.1"
# the admin token travels in the environment: command lines are visible to `ps`
TOKEN_ENV = "ROUTELAB_ADMIN_TOKEN"
# how many times a supervisor restarted the process it starts (the router shows it)
RESTARTS_ENV = "ROUTELAB_RESTARTS"


def server_config(
    app: Any,
    host: str,
    port: int,
    *,
    graceful_shutdown_s: int | None = None,
    log_level: str | None = "warning",
    **extra: Any,
) -> uvicorn.Config:
    """Uvicorn settings: the fast loop and parser, no access log (it would cost more than
    a mock's own work per request), no proxy-header parsing (nothing sits in front on
    loopback), a deep accept backlog for bursts, keep-alive for pooled clients."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        proxy_headers=False,
        log_level=log_level,
        backlog=4096,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=graceful_shutdown_s,
        **extra,
    )


def add_service_arguments(parser: argparse.ArgumentParser, default_port: int) -> None:
    """The options every service takes: its scenario, where to bind, the admin token."""
    parser.add_argument(
        "--scenario",
        required=True,
        help="scenario file, or the name of a bundled scenario (baseline)",
    )
    parser.add_argument("--host", default=LOOPBACK, help=f"address to bind (default {LOOPBACK})")
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"port to bind (default {default_port})"
    )
    parser.add_argument(
        "--admin-token", default=None, help=f"bearer token for /admin (default: ${TOKEN_ENV})"
    )
