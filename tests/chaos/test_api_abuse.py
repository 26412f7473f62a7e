"""The API attacked from outside: schema-driven fuzzing, and card numbers in every field.

Schemathesis generates requests from the router's own served schema
(``GET /openapi.json``) for every operation, a bounded number each: not one may get a
5xx, and every answer must match the schema (status, content type, headers, body).

Card numbers (PANs) are then sent in every field a client controls, written every way
people write them; afterwards no log, book, journal or ledger may hold any of them in
any form.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from chaos_kit import card_numbers_in, figure, reconciled, router_book
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from runtime.stack import Stack, start_stack

SCENARIO = """
name: abuse
merchant: {country: DE}
acquirers:
  - {name: acq_x, dialect: iso8583, latency: {dist: fixed, ms: 5}, approval: {base: 1.0}}
  - {name: acq_y, dialect: psp, latency: {dist: fixed, ms: 5}, approval: {base: 1.0}}
traffic:
  duration_s: 3600
  arrival: {profile: constant, rate_per_s: 10}
  mix: {networks: {visa: 1}, issuer_countries: {DE: 1}, currencies: {EUR: 1},
        amount: {dist: fixed, value: 1000}}
  issuer_declines: {base: {}}
policies:
  - {name: only, strategy: {type: priority}, default: [acq_x, acq_y]}
"""
EXAMPLES_PER_OPERATION = 80  # x 7 operations: a few hundred requests
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Luhn-valid test card numbers of every length the scan covers (none is the 424242... card
# the legitimate payments use)
PANS = (
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
    "4000056655665556",
    "3530111333300000",
    "6304000000000000000",
)


def written(pan: str) -> list[str]:
    """The ways a person or a system writes one card number."""
    groups = [pan[i : i + 4] for i in range(0, len(pan), 4)]
    full_width = "".join(chr(0xFF10 + int(d)) for d in pan)
    return [
        pan,
        " ".join(groups),
        "-".join(groups),
        ".".join(groups),
        "\u00a0".join(groups),
        "\u2013".join(groups),
        full_width,
        f"order {' '.join(groups)} thanks",
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("abuse")
    scenario = folder / "abuse.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    with start_stack(
        scenario, log_dir=folder / "logs", journal=folder / "journal.sqlite"
    ) as running:
        yield running


def test_schemathesis_finds_no_5xx_and_every_answer_matches_the_served_schema(
    stack: Stack,
) -> None:
    schema = schemathesis.openapi.from_url(stack.router_url + "/openapi.json")
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    failures: list[str] = []
    calls = 0
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:
        if operation.method.upper() == "PUT":
            continue  # a random valid policy would reroute the other tests' traffic

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            nonlocal calls
            calls += 1
            try:
                case.call_and_validate(
                    base_url=stack.router_url, headers=admin, checks=CHECKS, timeout=10
                )
            except AssertionError as exc:  # schemathesis raises a subclass per failure
                failures.append(f"{case.method} {case.formatted_path}: {exc}"[:300])

        fuzz()
    # the policy route, fuzzed without credentials (every answer must be a 401 Problem)
    put = next(o for o in operations if o.method.upper() == "PUT")

    @given(case=put.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz_put(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call(base_url=stack.router_url, timeout=10)
        if response.status_code != 401:
            failures.append(f"PUT without a token: {response.status_code}")

    fuzz_put()
    assert failures == [], failures[:5]
    health = httpx.get(stack.router_url + "/healthz").json()
    assert health["policy_version"] == 1  # nothing swapped the policy
    figure(
        f"schemathesis: {calls} generated requests over {len(operations)} operations of the "
        f"served schema in {time.monotonic() - started:.0f} s: 0 5xx, 0 answers off the schema"
    )


def test_card_numbers_in_every_field_never_reach_a_log_book_journal_or_ledger(
    stack: Stack,
) -> None:
    url = stack.router_url
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    card = {
        "bin": "424242",
        "last4": "4242",
        "network": "visa",
        "type": "credit",
        "issuer_country": "DE",
    }
    base = {"amount": 1000, "currency": "EUR", "card": card, "merchant_reference": "pan-ok"}
    refused = 0
    probes = 0
    for n, pan in enumerate(PANS):
        for m, text in enumerate(written(pan)):
            tag = f"pan-{n}-{m}"
            attempts: list[tuple[dict[str, Any], dict[str, Any]]] = [
                ({**base, "merchant_reference": text}, {"Idempotency-Key": tag + "-ref"}),
                ({**base, "card": {**card, "network": text}}, {"Idempotency-Key": tag + "-net"}),
                ({**base, "card": {**card, "type": text}}, {"Idempotency-Key": tag + "-type"}),
                ({**base, "card": {**card, "bin": text}}, {"Idempotency-Key": tag + "-bin"}),
                ({**base, "card": {**card, "last4": text}}, {"Idempotency-Key": tag + "-l4"}),
                ({**base, "card": {**card, "number": text}}, {"Idempotency-Key": tag + "-num"}),
                ({**base, "pan": text}, {"Idempotency-Key": tag + "-pan"}),
                ({**base, "currency": text}, {"Idempotency-Key": tag + "-cur"}),
                (
                    {**base, "card": {**card, "issuer_country": text}},
                    {"Idempotency-Key": tag + "-c"},
                ),
                (base, {"Idempotency-Key": text.encode("utf-8")}),
            ]
            for payload, headers in attempts:
                probes += 1
                answer = httpx.post(f"{url}/v1/payments", json=payload, headers=headers)
                assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
                refused += 1
            for path in (f"/v1/payments/{text}", f"/admin/payments?offset={text}"):
                probes += 1  # a 404, a 400, or (a plain number as offset) an empty page
                assert httpx.get(url + path, headers=admin).status_code in (200, 400, 404)
            policy = {"name": text, "strategy": {"type": "priority"}, "default": [text]}
            probes += 1
            assert httpx.put(f"{url}/admin/policy", json=policy, headers=admin).status_code == 422
            yaml_policy = "strategy: {type: priority}\ndefault: [acq_x]\n"
            probes += 1
            as_yaml = httpx.put(
                f"{url}/admin/policy",
                content=f"name: '{text}'\n{yaml_policy}".encode(),
                headers={**admin, "content-type": "application/yaml"},
            )
            assert as_yaml.status_code == 422
            probes += 1  # in a comment: the parser drops it, the policy is fine, no trace left
            in_comment = httpx.put(
                f"{url}/admin/policy",
                content=f"name: only\n{yaml_policy}# {text}\n".encode(),
                headers={**admin, "content-type": "application/yaml"},
            )
            assert in_comment.status_code in (200, 422)
    ok = httpx.post(f"{url}/v1/payments", json=base, headers={"Idempotency-Key": "pan-ok"})
    assert ok.status_code == 200  # the legitimate payment beside them goes through
    reconciled(url, stack.acquirers_url, stack.admin_token, "pan")
    book = router_book(url, stack.admin_token)
    assert [p["idempotency_key"] for p in book if p["idempotency_key"].startswith("pan")] == [
        "pan-ok"
    ]
    # every file the stack wrote, and what its services hold, scanned for any form of them
    assert stack.log_dir is not None
    folder = stack.log_dir.parent
    dumps = folder / "dumps"
    dumps.mkdir(exist_ok=True)
    (dumps / "book.json").write_text(httpx.get(f"{url}/admin/payments", headers=admin).text)
    (dumps / "ledger.json").write_text(
        httpx.get(f"{stack.acquirers_url}/admin/ledger", headers=admin).text
    )
    (dumps / "metrics.txt").write_text(httpx.get(f"{url}/metrics").text)
    canary = folder / "canary.txt"  # the scan itself must see a number written any way
    canary.write_text(" ".join(written(PANS[2])[1:]), encoding="utf-8")
    assert card_numbers_in([canary], PANS) == [f"canary.txt: {PANS[2]}"]
    canary.unlink()
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {"router.log", "acquirers.log", "journal.sqlite"} <= {p.name for p in files}
    leaks = card_numbers_in(files, PANS)
    assert leaks == []
    figure(
        f"card numbers: {len(PANS)} PANs x {len(written(PANS[0]))} ways of writing them in "
        f"{probes} probes (every payment field, the Idempotency-Key, unknown fields, paths, "
        f"query, admin policy as JSON and YAML): {refused} payment probes refused 4xx, 0 "
        f"stored; {len(files)} files scanned (logs, journal with its WAL, book, ledgers, "
        f"metrics): 0 card numbers"
    )
