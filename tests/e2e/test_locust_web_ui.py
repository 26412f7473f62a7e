"""The Payments tab for real: ``locust -f loadtests/locustfile.py`` with its web UI on
loopback, against the mock acquirers and the router, polled over HTTP while it runs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.stack import Stack, free_port, start_stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
DURATION_S = 8.0  # of traffic: the baseline's 40 payments/s, halved


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    scenario = ROOT / "scenarios" / "baseline.yaml"
    with start_stack(scenario, log_dir=tmp_path_factory.mktemp("logs")) as running:
        yield running


def test_the_payments_route_follows_a_run(stack: Stack, tmp_path: Path) -> None:
    port = free_port(LOOPBACK)
    log = (tmp_path / "locust.log").open("w")
    locust = subprocess.Popen(
        [
            *(sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "locustfile.py")),
            *("--host", stack.router_url, "--web-host", LOOPBACK, "--web-port", str(port)),
            *("--autostart", "-u", "1", "-r", "1", "--run-time", "40s", "--autoquit", "1"),
            *("--duration", str(DURATION_S), "--rate-scale", "0.5", "--slo", "p99_ms=60000"),
        ],
        cwd=tmp_path,  # no locust.conf of anyone's
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://{LOOPBACK}:{port}"
    seen: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 60.0
        with httpx.Client(base_url=url, timeout=5.0) as client:
            while time.monotonic() < deadline and locust.poll() is None:
                try:
                    figures = client.get("/stats/payments").json()
                except httpx.TransportError:  # not listening yet
                    time.sleep(0.5)
                    continue
                seen.append(figures)
                if figures["state"] == "stopped" and figures["payments"] > 0:
                    break
                time.sleep(0.5)
            stats = client.get("/stats/requests").json()
            page = client.get("/").text
    finally:
        locust.terminate()
        try:
            locust.wait(timeout=15)
        except subprocess.TimeoutExpired:
            locust.kill()
            locust.wait()
        log.close()
    output = (tmp_path / "locust.log").read_text()
    assert seen, f"the web UI never answered:\n{output[-3000:]}"
    final = seen[-1]
    assert final["state"] == "stopped", f"{final}\n{output[-3000:]}"
    # the figures grew while the test ran, and end with every payment the master counted
    assert any(f["state"] == "running" and f["payments"] > 0 for f in seen[:-1])
    assert final["payments"] > 0.5 * 20.0 * DURATION_S
    assert f"routelab: {final['payments']} payments answered" in output
    assert 0.0 < final["auth_rate"] <= 1.0
    assert final["auth_rate_ci95"][0] <= final["auth_rate"] <= final["auth_rate_ci95"][1]
    assert final["latency_ms"]["p99"] > 0.0
    assert final["slo"]["ok"] is True and final["slo"]["passed"]
    [extended] = stats["extended_stats"]
    assert extended["key"] == "payments"
    rows = {(r["section"], r["figure"]): r["value"] for r in extended["data"]}
    assert rows["Payments (after warm-up)", "payments"] == str(final["payments"])
    assert '"extended_tabs"' in page and "Payments" in page
