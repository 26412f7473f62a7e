"""The orchestrator's HTTP calls to the services: health, metrics, payment book, ledgers.

Plain ``urllib`` (blocking, standard library): a handful of calls before and after a
run, where neither speed nor an event loop matters. Admin calls carry the bearer token.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

PAGE = 5_000  # payments per GET /admin/payments page


class ServiceError(RuntimeError):
    """A service did not answer as expected (the message says which call and why)."""


def _request(
    url: str,
    token: str | None = None,
    method: str = "GET",
    body: bytes | None = None,
    timeout_s: float = 30.0,
) -> bytes:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        hint = " (is the admin token right?)" if exc.code == 401 else ""
        raise ServiceError(f"{method} {url}: HTTP {exc.code}{hint}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ServiceError(f"{method} {url}: {exc}") from None


def get_json(url: str, token: str | None = None, timeout_s: float = 30.0) -> Any:
    return orjson.loads(_request(url, token, timeout_s=timeout_s))


@dataclass
class MetricsSnapshot:
    """The router's Prometheus counters and gauges we read, by sample name and labels."""

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> MetricsSnapshot:
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return cls(samples, text)

    def total(self, name: str, **labels: str) -> float:
        """Sum of every sample called ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, lab), v in self.samples.items() if n == name and wanted <= set(lab))

    def by_label(self, name: str, label: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for (n, labels), value in self.samples.items():
            if n == name:
                key = dict(labels).get(label, "")
                out[key] = out.get(key, 0.0) + value
        return out


class RouterAdmin:
    """The routing service seen from outside: health, metrics, policy, payment book."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = get_json(self.url + "/healthz", timeout_s=5.0)
        return data

    def metrics(self) -> MetricsSnapshot:
        return MetricsSnapshot.parse(_request(self.url + "/metrics", timeout_s=10.0).decode())

    def put_policy(self, policy: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(
            _request(self.url + "/admin/policy", self.token, "PUT", orjson.dumps(policy))
        )
        return data

    def payments(self) -> Iterator[dict[str, Any]]:
        """Every payment in the router's book, oldest first, a page at a time."""
        offset = 0
        while True:
            page = get_json(
                f"{self.url}/admin/payments?offset={offset}&limit={PAGE}",
                self.token,
                timeout_s=60.0,
            )
            rows = page["payments"]
            yield from rows
            offset += len(rows)
            if not rows or offset >= page["total"]:
                return

    def check_token(self) -> None:
        """Fail now, not after the load, if the admin token is wrong."""
        get_json(f"{self.url}/admin/payments?offset=0&limit=0", self.token, timeout_s=10.0)

    def payments_evicted(self) -> int:
        page = get_json(f"{self.url}/admin/payments?offset=0&limit=0", self.token)
        return int(page.get("evicted", 0))

    def wait_settled(self, timeout_s: float, poll_s: float = 0.2) -> MetricsSnapshot:
        """Wait until no payment is in flight and no attempt awaits a late void check.

        Reconciling earlier would count a payment still being routed, or an approval
        about to be reversed, as a mismatch. Returns the last snapshot either way.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            snapshot = self.metrics()
            busy = snapshot.total("routelab_router_payments_in_flight") + snapshot.total(
                "routelab_router_unresolved_attempts"
            )
            if busy == 0 or time.monotonic() >= deadline:
                return snapshot
            time.sleep(poll_s)


class AcquirerAdmin:
    """The mock acquirers' admin API: ledgers and reset."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def ledger(self) -> list[dict[str, Any]]:
        data = get_json(self.url + "/admin/ledger", self.token, timeout_s=60.0)
        entries: list[dict[str, Any]] = data["entries"]
        return entries

    def check_token(self) -> None:
        """Fail now, not after the load, if the admin token is wrong."""
        get_json(self.url + "/admin/acquirers", self.token, timeout_s=10.0)

    def reset(self) -> None:
        _request(self.url + "/admin/reset", self.token, "POST", b"")
