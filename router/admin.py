"""The router's admin API: read and hot-swap the routing policy, page through the payment book.

Every route needs ``Authorization: Bearer <token>``. A policy swap is validated with
the scenario loader's own rules, so an invalid policy is refused with the same readable
problems ``routelab validate`` gives, and the old policy keeps serving.

Card data: a policy body carrying a card number anywhere (a key, a string, a number) is
refused before the loader sees it, naming the field but not the value, and every refusal
goes through :func:`_refusal`, the one place that scrubs what reaches the log and the
answer (the loader's messages quote bad values, YAML errors quote the offending line).
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated, Any

import orjson
import yaml
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import HTTPException

from router.card_data import CARD_NUMBER_PROBLEM, card_number_paths, redact
from router.engine.errors import StrategyError
from router.openapi import PaymentsPage, PolicyView, Problem
from router.payments import ActivePolicy, PaymentRouter
from scenarios.loader import ScenarioError, validate_policy

log = logging.getLogger("router.admin")
JSON = "application/json"
MAX_POLICY_BYTES = 64 * 1024  # a routing policy is a few KB of YAML
DEFAULT_PAGE = 1_000  # payments per GET /admin/payments page unless told
MAX_PAGE = 5_000  # a page is serialised on the event loop: keep it short
MAX_OFFSET = 2**53 - 1  # the largest integer every JSON reader keeps exactly


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON)


def policy_view(active: ActivePolicy) -> dict[str, Any]:
    return {
        "version": active.version,
        "since": active.since,
        "policy": active.policy.model_dump(mode="json"),
    }


class _PolicyRefusedError(Exception):
    def __init__(self, status: int, problems: list[tuple[str, str]]) -> None:
        super().__init__(status)
        self.status = status
        self.problems = problems


def _parse_policy_body(body: bytes, content_type: str) -> Any:
    try:
        if "yaml" in content_type:
            return yaml.safe_load(body)
        return orjson.loads(body)
    except (orjson.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _PolicyRefusedError(422, [("body", f"cannot parse: {exc}")]) from None


async def _read_policy_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_POLICY_BYTES:
            raise _PolicyRefusedError(413, [("body", f"larger than {MAX_POLICY_BYTES} bytes")])
    return bytes(body)


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

    api = APIRouter(
        prefix="/admin",
        dependencies=[Depends(authorised)],
        responses={401: {"model": Problem, "description": "admin token missing or wrong"}},
    )

    def _refusal(status: int, problems: list[tuple[str, str]]) -> Response:
        """The one way out for a refused policy: scrubbed, then logged and answered."""
        clean = [(redact(path), redact(problem)) for path, problem in problems]
        log.warning(
            "policy change refused",
            extra={
                "fields": {
                    "problems": [f"{p}: {problem}" if p else problem for p, problem in clean]
                }
            },
        )
        return json_response(
            {
                "error": "invalid_policy",
                "problems": [{"field": path, "problem": problem} for path, problem in clean],
            },
            status,
        )

    @api.get("/policy", response_model=None, responses={200: {"model": PolicyView}})
    async def get_policy() -> Response:
        return json_response(policy_view(router.active))

    @api.put(
        "/policy",
        response_model=None,
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "a routing policy, as in a scenario's policies list",
                "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "application/yaml": {"schema": {"type": "string"}},
                },
            }
        },
        responses={
            200: {"model": PolicyView, "description": "the policy now serving"},
            413: {"model": Problem, "description": "body larger than 64 KiB"},
            422: {"model": Problem, "description": "invalid policy; the old one keeps serving"},
        },
    )
    async def put_policy(request: Request) -> Response:
        try:
            body = await _read_policy_body(request)
            data = _parse_policy_body(body, request.headers.get("content-type", ""))
            pans = list(card_number_paths(data))
            if pans:
                raise _PolicyRefusedError(422, [(path, CARD_NUMBER_PROBLEM) for path in pans])
            try:
                policy = validate_policy(data, router.scenario, source="policy")
            except ScenarioError as exc:
                raise _PolicyRefusedError(422, exc.problems) from None
        except _PolicyRefusedError as refused:
            return _refusal(refused.status, refused.problems)
        old = router.active
        try:
            new = router.swap_policy(policy)
        except StrategyError as exc:  # a strategy this router cannot build (the oracle)
            return _refusal(422, [(exc.field, exc.problem)])
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

    @api.get("/payments", response_model=None, responses={200: {"model": PaymentsPage}})
    async def list_payments(
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="records to skip")] = 0,
        limit: Annotated[
            int, Query(ge=0, description=f"records to return, at most {MAX_PAGE} (clamped)")
        ] = DEFAULT_PAGE,
    ) -> Response:
        """The book oldest first, a page at a time (``total`` says how many records)."""
        return Response(router.book.export(offset, min(limit, MAX_PAGE)), media_type=JSON)

    return api
