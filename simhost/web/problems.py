"""Errors as RFC 9457 problem details (`application/problem+json`: type, title, status, detail) for every
error the API gives, validation errors with the fields named."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, JsonValue
from starlette.exceptions import HTTPException as StarletteHTTPException

from simhost.inputs import ConflictError, InputError, NotFoundError

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:simhost:problem:"
LOG = logging.getLogger("simhost.web")


class Problem(BaseModel):
    """An error (RFC 9457); `type` is `about:blank` where the HTTP status says it all."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, JsonValue]] | None = None  # validation: each field in error and why


class ProblemError(Exception):
    """Raised by a handler: answered as a problem. `kind` names it (`urn:simhost:problem:<kind>`)."""

    def __init__(self, status: int, title: str, detail: str | None = None, *, kind: str | None = None,
                 headers: Mapping[str, str] | None = None, extra: Mapping[str, JsonValue] | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.kind = status, title, detail, kind
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def problem(status: int, title: str, detail: str | None = None, *, kind: str | None = None,
            headers: Mapping[str, str] | None = None, extra: Mapping[str, JsonValue] | None = None) -> Response:
    body: dict[str, JsonValue] = {"type": TYPE_PREFIX + kind if kind else "about:blank", "title": title,
                                  "status": status}
    if detail is not None:
        body["detail"] = detail
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """For a route's OpenAPI description: these statuses answer a Problem."""
    return {code: {"model": Problem, "content": {PROBLEM_JSON: {}}} for code in codes}


def not_found(what: str) -> ProblemError:
    return ProblemError(404, "Not Found", f"no {what}")


@contextmanager
def referenced() -> Iterator[None]:
    """Around the lookups of records a request's body names: one that is not there is a mistake in the request
    (422), not a missing resource (404)."""
    try:
        yield
    except NotFoundError as exc:
        raise InputError(str(exc)) from None


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="simhost"'})


def _field_errors(errors: Sequence[object]) -> list[dict[str, JsonValue]]:
    out: list[dict[str, JsonValue]] = []
    for e in errors:
        if isinstance(e, Mapping):
            loc = [str(p) for p in e.get("loc", ())]
            out.append({"field": ".".join(loc), "message": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    return out


def install(app: FastAPI) -> None:
    """Answer every error (ours, FastAPI's validation, Starlette's 404/405, the unforeseen) as a problem."""

    async def on_problem(_r: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return problem(exc.status, exc.title, exc.detail, kind=exc.kind, headers=exc.headers, extra=exc.extra)

    async def on_input(_r: Request, exc: Exception) -> Response:
        if isinstance(exc, NotFoundError):
            return problem(404, "Not Found", str(exc), kind="not-found")
        if isinstance(exc, ConflictError):
            return problem(409, "Conflict", str(exc), kind="conflict")
        return problem(422, "Unprocessable Content", str(exc), kind="invalid-input")

    async def on_validation(_r: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = _field_errors(exc.errors())
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        return problem(422, "Unprocessable Content", f"{first['field']}: {first['message']}", kind="validation",
                       extra={"errors": list(errors)})

    async def on_http(_r: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        title = HTTPStatus(exc.status_code).phrase if exc.status_code in HTTPStatus._value2member_map_ else "Error"
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        return problem(exc.status_code, title, detail, headers=exc.headers)

    async def on_crash(_r: Request, exc: Exception) -> Response:
        LOG.error("request failed", exc_info=exc)
        return problem(500, "Internal Server Error", "the server failed; the error is logged")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(InputError, on_input)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
