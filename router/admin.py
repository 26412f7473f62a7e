"""The router's admin API: read and hot-swap the routing policy, export the payment book.

Every route needs ``Authorization: Bearer <token>``. A policy swap is validated with
the scenario loader's own rules, so an invalid policy is refused with the same readable
problems ``routelab validate`` gives, and the old policy keeps serving.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import orjson
import yaml
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import HTTPException

from router.payments import ActivePolicy, PaymentRouter
from scenarios.loader import ScenarioError, validate_policy

log = logging.getLogger("router.admin")
JSON = "application/json"


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON)


def policy_view(active: ActivePolicy) -> dict[str, Any]:
    return {
        "version": active.version,
        "since": active.since,
        "policy": active.policy.model_dump(mode="json"),
    }


def _parse_policy_body(body: bytes, content_type: str) -> Any:
    if "yaml" in content_type:
        return yaml.safe_load(body)
    return orjson.loads(body)


def admin_routes(router: PaymentRouter, admin_token: str) -> APIRouter:
    """The ``/admin`` routes for one payment router, guarded by ``admin_token``."""
    expected = f"Bearer {admin_token}".encode()

    async def authorised(request: Request) -> None:
        given = request.headers.get("authorization", "").encode()
        if not secrets.compare_digest(given, expected):
            raise HTTPException(
                401,
                detail="admin token required: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    api = APIRouter(prefix="/admin", dependencies=[Depends(authorised)])

    @api.get("/policy")
    async def get_policy() -> Response:
        return json_response(policy_view(router.active))

    @api.put("/policy")
    async def put_policy(request: Request) -> Response:
        body = await request.body()
        try:
            data = _parse_policy_body(body, request.headers.get("content-type", ""))
        except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
            return json_response(
                {
                    "error": "invalid_policy",
                    "policy_version": router.active.version,
                    "problems": [{"field": "body", "problem": f"cannot parse: {exc}"}],
                },
                422,
            )
        try:
            policy = validate_policy(data, router.scenario, source="policy")
        except ScenarioError as exc:
            log.warning(
                "policy change refused",
                extra={
                    "fields": {
                        "problems": [
                            f"{path}: {problem}" if path else problem
                            for path, problem in exc.problems
                        ]
                    }
                },
            )
            return json_response(
                {
                    "error": "invalid_policy",
                    "policy_version": router.active.version,
                    "message": str(exc),
                    "problems": [
                        {"field": path, "problem": problem} for path, problem in exc.problems
                    ],
                },
                422,
            )
        old = router.active
        new = router.swap_policy(policy)
        log.info(
            "policy changed",
            extra={
                "fields": {
                    "from_policy": old.policy.name,
                    "from_version": old.version,
                    "policy": new.policy.name,
                    "version": new.version,
                }
            },
        )
        return json_response(policy_view(new))

    @api.get("/payments")
    async def list_payments(offset: int = 0, limit: int | None = None) -> Response:
        if offset < 0 or (limit is not None and limit < 0):
            return json_response(
                {
                    "error": "invalid_request",
                    "problems": [{"field": "offset/limit", "problem": "must not be negative"}],
                },
                422,
            )
        return Response(router.book.export(offset, limit), media_type=JSON)

    return api
