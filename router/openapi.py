"""The router's OpenAPI schema, served at ``GET /openapi.json``, the payment route included.

FastAPI describes its own routes. ``POST /v1/payments`` is a raw ASGI endpoint that
bypasses FastAPI for speed (``router.endpoint``), so FastAPI cannot see it: its
operation is written here from the same pydantic model that validates the body
(:class:`~router.payment_request.PaymentRequest`), plus documentation models of the
answers. Nothing here runs per request: the schema is built once, on first use.
Every 4xx is documented with the one error shape (:class:`Problem`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from router.payment_request import MAX_KEY_LENGTH, PaymentRequest

REF = "#/components/schemas/{model}"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemItem(_Doc):
    field: str = Field(description="the field, header or parameter at fault ('' for none)")
    problem: str = Field(description="what is wrong, never echoing the value sent")


class Problem(_Doc):
    """The one error shape of every 4xx (and 5xx) the router gives."""

    error: str = Field(description="machine-readable reason, e.g. invalid_request")
    problems: list[ProblemItem]


class AttemptView(_Doc):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    acquirer: str
    code: str = Field(description="ISO 8583 field-39 code, or a transport code (HTTP_503...)")
    class_: str = Field(alias="class", description="normalised outcome class")
    latency_ms: float
    key: str = Field(description="the attempt's acquirer-side idempotency key")
    raw_code: str | None = Field(None, description="what the acquirer said, when it differs")
    void: str | None = Field(None, description="how an uncertain outcome was settled")


class SchemeView(_Doc):
    """What the card schemes' rules did to the payment (present only when they did)."""

    fees: float = Field(description="scheme fees for excess retries and declines, minor units")
    excess_attempts: int = Field(description="attempts those fees were charged for")
    stopped: bool = Field(description="a scheme rule stopped a retry the policy allowed")


class PaymentAnswer(_Doc):
    """A payment's final answer (also ``GET /v1/payments/{payment_id}``)."""

    payment_id: str
    status: Literal["approved", "declined", "failed"]
    acquirer: str | None
    decline_class: str | None
    code: str
    rule: str
    policy: str
    policy_version: int
    latency_ms: float
    attempts: list[AttemptView]
    recovered: bool | None = Field(
        None,
        description="true when the router finished this payment after a restart, from "
        "its journal (no new attempt was sent)",
    )
    schemes: SchemeView | None = None


class Health(_Doc):
    status: Literal["ok"]
    scenario: str
    policy: str
    policy_version: int
    in_flight: int = Field(description="payments being routed now")
    max_in_flight: int = Field(description="admission cap: above it payments get 503")
    restarts: int = Field(description="times the supervisor restarted this router")
    journal: bool = Field(description="whether payments are journaled (survive a crash)")
    recovering: int = Field(
        description="payments found unfinished in the journal at start, still being settled"
    )


class PolicyView(_Doc):
    version: int
    since: float
    policy: dict[str, Any]


class PaymentsPage(_Doc):
    payments: list[dict[str, Any]]
    total: int
    evicted: int
    offset: int
    limit: int


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


PROBLEM = _json(Problem, "refused; the body names each problem")


def _retry_later(description: str) -> dict[str, Any]:
    return {
        **_json(Problem, description),
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    }


def payment_operation() -> dict[str, Any]:
    return {
        "summary": "Route one card payment to its final status",
        "operationId": "create_payment",
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "description": "unique per payment, reused on retry: a retry gets the first "
                "answer byte for byte (header Idempotent-Replayed: true)",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_KEY_LENGTH,
                    "pattern": f"^[\\x21-\\x7e]{{1,{MAX_KEY_LENGTH}}}$",
                },
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model="PaymentRequest")}}
            },
        },
        "responses": {
            "200": _json(PaymentAnswer, "the payment's final status"),
            "400": _json(Problem, "missing or invalid Idempotency-Key, or a body that is not JSON"),
            "408": _json(Problem, "the body did not arrive within the read deadline"),
            "409": _retry_later(
                "the key was used before with a different body, or its payment is being "
                "settled after a router restart (then with Retry-After)"
            ),
            "413": _json(Problem, "body larger than 16 KiB"),
            "422": _json(Problem, "a field is invalid (card numbers are never accepted)"),
            "500": _json(Problem, "routing failed unexpectedly; do not retry blindly"),
            "503": _retry_later(
                "overloaded, or the idempotency store or the journal is full or failing: "
                "nothing was done"
            ),
        },
    }


def _models() -> dict[str, Any]:
    components: dict[str, Any] = {}
    for model in (PaymentRequest, PaymentAnswer, Problem, Health, PolicyView, PaymentsPage):
        schema = model.model_json_schema(ref_template=REF, by_alias=True)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return components


def _use_problem_shape(schema: dict[str, Any]) -> None:
    """FastAPI documents its validation errors as ``{"detail"}``: we answer with Problem,
    as 400 for parameters (no body) and 422 for a body; every 4xx is a Problem."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            validation = responses.pop("422", None)
            if validation is not None:
                code = "422" if "requestBody" in operation else "400"
                responses[code] = _json(Problem, "a parameter or field is invalid")
            responses.setdefault("4XX", PROBLEM)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The whole schema: FastAPI's routes, the payment route, one error shape."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("paths", {}).setdefault("/v1/payments", {})["post"] = payment_operation()
    schema.setdefault("components", {}).setdefault("schemas", {}).update(_models())
    _use_problem_shape(schema)
    app.openapi_schema = schema
    return schema
