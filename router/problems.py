"""One error shape for every refusal the router gives: ``{"error": ..., "problems": [...]}``.

The payment endpoint answers in this shape itself (``RequestError.body()``); these
handlers make FastAPI and Starlette answer in it too, where they would otherwise send
``{"detail": ...}``: 401 from the admin guard, 404 for an unknown path, 405 for a wrong
method, 400/422 for parameters that fail validation, 408 for a body that never came,
and 500 for a bug. Every message goes through ``RequestError``, which scrubs card
numbers, and validation messages never carry the input that failed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from router.card_data import redact
from router.payment_request import RequestError

log = logging.getLogger("router.problems")
JSON = "application/json"

_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    415: "unsupported_media_type",
}
_FIELDS = {401: "Authorization", 404: "path", 405: "method"}


def problem_response(problem: RequestError) -> Response:
    headers = {name.decode(): value.decode() for name, value in problem.headers}
    return Response(
        orjson.dumps(problem.body()),
        status_code=problem.status,
        media_type=JSON,
        headers=headers,
    )


def _error_name(status: int) -> str:
    name = _ERRORS.get(status)
    if name is not None:
        return name
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def http_problem(status: int, detail: Any, headers: Mapping[str, str] | None) -> RequestError:
    """A Starlette/FastAPI ``HTTPException`` as a problem."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    text = detail if isinstance(detail, str) and detail and detail != phrase else ""
    if not text:
        if status == 404:
            text = "nothing here; GET /openapi.json lists the routes"
        elif status == 405:
            allowed = (headers or {}).get("allow") or (headers or {}).get("Allow") or ""
            text = f"method not allowed here (allowed: {allowed})" if allowed else phrase
        else:
            text = phrase or "refused"
    encoded = tuple((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())
    return RequestError(status, _error_name(status), [(_FIELDS.get(status, ""), text)], encoded)


def validation_problem(errors: list[Any]) -> RequestError:
    """FastAPI's validation errors (query, path, header or body) without their inputs.

    Parameters that fail validation are a bad request (400); a body that does is 422,
    as the payment endpoint answers.
    """
    problems: list[tuple[str, str]] = []
    in_body = False
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] == "body":
            in_body = True
        field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "")
        message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
        problems.append((field, message))
    return RequestError(422 if in_body else 400, "invalid_request", problems or [("", "invalid")])


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(http_problem(exc.status_code, exc.detail, exc.headers))


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return problem_response(validation_problem(list(exc.errors())))


async def _on_refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return problem_response(exc)


async def _on_crash(request: Request, exc: Exception) -> Response:
    log.error("request failed", exc_info=exc, extra={"fields": {"path": redact(request.url.path)}})
    return problem_response(
        RequestError(500, "internal_error", [("", "the router failed to answer; see its log")])
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every refusal of ``app`` use the service's error shape."""
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(RequestError, _on_refusal)
    app.add_exception_handler(Exception, _on_crash)
