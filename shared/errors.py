"""RFC 9457 problem details (`application/problem+json`) for every error a service returns.

Handlers raise the domain exceptions below (`NotFound`, `Conflict`, `NotAllowed`,
`Invalid`, `NotYet`); they know nothing of HTTP. `install_problem_handlers` maps them to
problem+json once, for every service. `Problem` stays for the HTTP edge itself (auth,
body limits, health), where a status code is the point.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error to return as problem+json. `errors` names offending fields."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.errors = errors
        self.headers = headers
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


class DomainError(Exception):
    """A use case refused: raised by handlers, turned into problem+json by the platform.

    `detail` is the sentence a caller reads; `title` overrides the kind's default; other
    keyword arguments become problem extensions (e.g. `status_now="closed"`)."""

    status = 400
    title = "Bad Request"

    def __init__(
        self,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if title is not None:
            self.title = title
        self.type = type_
        self.extensions = extensions

    def errors(self) -> list[dict[str, Any]] | None:
        return None

    def problem(self) -> Problem:
        """The problem+json this refusal is for an HTTP caller."""
        return Problem(
            self.status,
            self.title,
            self.detail,
            type_=self.type,
            errors=self.errors(),
            **self.extensions,
        )


class NotFound(DomainError):
    """The thing the command names does not exist (404)."""

    status = 404
    title = "Not Found"


class Conflict(DomainError):
    """The command is not valid in the current state (409); `allowed` lists what is."""

    status = 409
    title = "Conflict"

    def __init__(self, detail: str, *, allowed: list[str] | None = None, **kw: Any) -> None:
        if allowed is not None:
            kw["allowed"] = allowed
        super().__init__(detail, **kw)
        self.allowed = allowed


class NotAllowed(DomainError):
    """The caller may not do this (403), e.g. an amount beyond their authority."""

    status = 403
    title = "Forbidden"


class Invalid(DomainError):
    """An input breaks a rule (422); `field` names it (dotted path)."""

    status = 422
    title = "Invalid request"

    def __init__(self, field: str, message: str, *, detail: str | None = None, **kw: Any) -> None:
        super().__init__(detail or f"{field}: {message}", **kw)
        self.field = field
        self.message = message

    def errors(self) -> list[dict[str, Any]] | None:
        return [{"field": self.field, "message": self.message}]


class NotYet(DomainError):
    """A consumed event arrived before what it depends on (the topics are not ordered with
    each other). The consumer runner parks it under `key` (the ticket number) and replays
    it after the next event for that key applies. Over HTTP it is a 409."""

    status = 409
    title = "Not yet"

    def __init__(self, key: str, reason: str, **kw: Any) -> None:
        super().__init__(reason, **kw)
        self.key = key
        self.reason = reason


def field_error(field: str, message: str, status: int = 422) -> Problem:
    """A validation problem naming one field (dotted path)."""
    return Problem(
        status,
        "Invalid request",
        f"{field}: {message}",
        errors=[{"field": field, "message": message}],
    )


TMF_PREFIX = "/tmf-api/"
"""TM Forum Open APIs answer errors in TMF630's Error model, not problem+json."""


def tmf_error_body(problem: Problem) -> dict[str, Any]:
    """TMF630 Error (code, reason, message, status as a string, @type), plus the offending
    fields as `errors` (an extension, like problem+json's)."""
    body: dict[str, Any] = {
        "code": str(problem.extensions.get("code") or problem.status),
        "reason": problem.title,
        "message": problem.detail or problem.title,
        "status": str(problem.status),
        "@type": "Error",
    }
    if problem.type != "about:blank":
        body["referenceError"] = problem.type
    if problem.errors:
        body["errors"] = problem.errors
    return body


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    if request is not None and request.url.path.startswith(TMF_PREFIX):
        return JSONResponse(
            tmf_error_body(problem),
            status_code=problem.status,
            media_type="application/json",
            headers=problem.headers,
        )
    return JSONResponse(
        problem.body(str(request.url.path) if request else None),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error, including validation and unknown routes, a problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(exc.problem(), request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_path(e.get("loc", ())), "message": e.get("msg", "invalid")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        # TMF630: a missing mandatory attribute or a malformed value is 400 Bad Request.
        status = 400 if request.url.path.startswith(TMF_PREFIX) else 422
        return problem_response(Problem(status, "Invalid request", detail, errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(Problem(exc.status_code, title, detail, headers=headers), request)

    async def _storage(request: Request, exc: Exception) -> JSONResponse:
        if not database_unavailable(exc):
            log.exception("database error on %s %s", request.method, request.url.path)
            return problem_response(Problem(500, "Internal Server Error"), request)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        down = Problem(
            503,
            "Service Unavailable",
            "the database is unavailable; nothing was changed, retry later",
            headers={"Retry-After": "5"},
        )
        return problem_response(down, request)

    for kind in (DBAPIError, PoolTimeout, ConnectionError, TimeoutError):
        app.add_exception_handler(kind, _storage)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(Problem(500, "Internal Server Error"), request)


def database_unavailable(exc: BaseException) -> bool:
    """A lost or refused database connection (not a bug in a query)."""
    if isinstance(exc, OperationalError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionError | TimeoutError) or type(seen).__name__ in (
            "ConnectionDoesNotExistError",
            "CannotConnectNowError",
            "InterfaceError",
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


TMF_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "description": HTTPStatus(code).phrase,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for code in (400, 401, 403, 404, 405, 409, 413, 422, 503)
}
"""The error responses of a TMF Open API route (the `Error` schema is registered by the
service that mounts one)."""

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "description": HTTPStatus(code).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for code in (401, 403, 404, 409, 413, 422, 503)
}
