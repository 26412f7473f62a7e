"""The dialect seam: the scenario format, the mock acquirers and the router know the same
acquirer APIs, and for every registered dialect the router's connector and the mock's
dialect understand each other (authorisation, status inquiry, void), the void and the
status inquiry taking the acquirer's scenario latency.

Adding a dialect is one ``Dialect`` class (``mock_acquirers/dialects/``) and one line in
``mock_acquirers/dialects/registry.py``, one ``Connector`` class (``router/``) and one
line in ``router/app.py``, and its name in ``Acquirer.dialect``
(``scenarios/acquirers.py``). These tests then run on it with no further change.
"""

from __future__ import annotations

import asyncio
import time
from typing import get_args

import pytest

from mock_acquirers.app import create_app as create_mock
from mock_acquirers.dialects.registry import DIALECTS
from router.app import _DIALECTS as CONNECTORS
from router.connectors import AttemptStatus, VoidResult
from router.payment_request import CardPayment
from router.transport import AsgiTransport
from scenarios.loader import parse_scenario
from scenarios.schema import Acquirer

TOKEN = "test-admin-token"
VOID_MS = 150.0
STATUS_MS = 150.0
PAYMENT = CardPayment(
    "pay_1", 1250, "EUR", "visa", "debit", "DE", "424242", "4242", False, "DE", "order-1"
)
SCHEMA_DIALECTS = frozenset(get_args(Acquirer.model_fields["dialect"].annotation))


def test_the_scenario_format_the_mock_and_the_router_know_the_same_dialects() -> None:
    schema, mock, router = SCHEMA_DIALECTS, frozenset(DIALECTS), frozenset(CONNECTORS)
    assert schema == mock == router, (
        "the acquirer dialects disagree: "
        f"scenario format (Acquirer.dialect in scenarios/acquirers.py) {sorted(schema)}, "
        f"mock acquirers (DIALECTS in mock_acquirers/dialects/registry.py) {sorted(mock)}, "
        f"router (_DIALECTS in router/app.py) {sorted(router)}; "
        "a dialect needs its name in all three, with a Dialect class on the mock side and "
        "a Connector class on the router side"
    )


def test_every_registered_class_says_the_name_it_is_registered_under() -> None:
    assert {name: cls.name for name, cls in DIALECTS.items()} == {n: n for n in DIALECTS}
    assert {name: cls.dialect for name, cls in CONNECTORS.items()} == {n: n for n in CONNECTORS}
    paths = [cls.path for cls in DIALECTS.values()]
    assert len(set(paths)) == len(paths), paths  # each dialect has endpoints of its own


def _scenario(dialect: str) -> str:
    return f"""
name: seam-{dialect}
merchant: {{country: DE}}
acquirers:
  - name: acq
    dialect: {dialect}
    latency: {{dist: fixed, ms: 1}}
    void_latency: {{dist: fixed, ms: {VOID_MS}}}
    status_latency: {{dist: fixed, ms: {STATUS_MS}}}
    approval: {{base: 1.0}}
traffic:
  duration_s: 60
  arrival: {{profile: constant, rate_per_s: 1}}
  mix: {{networks: {{visa: 1}}, issuer_countries: {{DE: 1}}, currencies: {{EUR: 1}},
        amount: {{dist: fixed, value: 1000}}}}
  issuer_declines: {{base: {{}}}}
policies:
  - {{name: only, strategy: {{type: priority}}, default: [acq],
     retry: {{attempt_timeout_ms: 1000, budget_ms: 3000}}}}
"""


@pytest.mark.parametrize("dialect", sorted(SCHEMA_DIALECTS))
def test_the_connector_and_the_mock_speak_the_dialect_and_take_its_latencies(
    dialect: str,
) -> None:
    async def main() -> None:
        mock = create_mock(parse_scenario(_scenario(dialect)), TOKEN)
        transport = AsgiTransport(mock)
        connector = CONNECTORS[dialect]("acq", transport)
        assert (await connector.authorise(PAYMENT, "k-1", 2.0)).approved
        started = time.monotonic()
        assert await connector.status("k-1", 2.0) is AttemptStatus.APPROVED
        status_s = time.monotonic() - started
        assert status_s >= STATUS_MS / 1000.0, status_s  # no upper bound: machines vary
        started = time.monotonic()
        assert await connector.void("k-1", 2.0) is VoidResult.VOIDED
        void_s = time.monotonic() - started
        assert void_s >= VOID_MS / 1000.0, void_s
        assert await connector.status("k-1", 2.0) is AttemptStatus.REVERSED
        assert await connector.status("nobody", 2.0) is AttemptStatus.NOT_FOUND
        assert await connector.void("nobody", 2.0) is VoidResult.NOT_VOIDED
        counters = mock.acquirers["acq"].counts()
        assert (counters["approved"], counters["reversals"], counters["status_inquiries"]) == (
            1,
            1,
            3,
        )
        await transport.close()

    asyncio.run(main())
