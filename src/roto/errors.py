"""Domain errors that know their HTTP status, and their rendering as problem+json."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from redis.exceptions import RedisError

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger(__name__)


class DomainError(Exception):
    """Base of all expected errors; ``status`` and ``code`` are stable parts of the API."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class BadRequest(DomainError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class PaymentRequired(DomainError):
    status, code, title = 402, "quota_exceeded", "Payment required"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class Unprocessable(DomainError):
    status, code, title = 422, "unprocessable", "Unprocessable input"


class TooManyRequests(DomainError):
    status, code, title = 429, "rate_limited", "Too many requests"


class ServiceUnavailable(DomainError):
    status, code, title = 503, "unavailable", "Service unavailable"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """A problem+json response."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return problem(
        exc.status,
        exc.title,
        exc.detail,
        type_=f"urn:roto:error:{exc.code}",
        errors=exc.errors,
        headers=exc.headers,
    )


def _validation_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = exc.extra if isinstance(exc.extra, list) else None
    detail = str(exc.detail)
    if errors:
        detail = (
            "; ".join(
                f"{e.get('key') or 'body'}: {e.get('message')}"
                for e in errors
                if isinstance(e, dict)
            )
            or detail
        )
    return problem(400, "Invalid request", detail, type_="urn:roto:error:invalid", errors=errors)


def _http_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, NotAuthorizedException):
        return problem(
            401,
            "Unauthorized",
            str(exc.detail),
            type_="urn:roto:error:unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(exc, NotFoundException):
        return problem(404, "Not found", str(exc.detail), type_="urn:roto:error:not_found")
    return problem(exc.status_code, str(exc.detail), str(exc.detail), headers=exc.headers)


#: A dependency that is away (PostgreSQL restarting, a connection cut, a socket refused or timed
#: out): the request may well succeed a moment later, so it is a 503 to retry, not a 500.
#: asyncpg's InternalClientError is a pooled connection whose operation a cut connection left
#: half done ("another operation is in progress"); the pool replaces it.
UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    RedisError,
    OSError,
)
UNAVAILABLE_RETRY_AFTER_S = 1


def _unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.warning("dependency_unavailable", path=request.url.path, error=repr(exc))
    return problem(
        503,
        "Service unavailable",
        "a service this request needs did not answer; retry shortly",
        type_="urn:roto:error:unavailable",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
    )


def _internal_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled_error", path=request.url.path, exc_info=exc)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal error",
        "An unexpected error occurred; it has been logged.",
    )


exception_handlers: dict[Any, Any] = {
    DomainError: _domain_error_handler,
    ValidationException: _validation_handler,
    HTTPException: _http_handler,
    **dict.fromkeys(UNAVAILABLE, _unavailable_handler),
    Exception: _internal_handler,
}

__all__ = [
    "PROBLEM_JSON",
    "BadRequest",
    "Conflict",
    "DomainError",
    "Forbidden",
    "NotFound",
    "PaymentRequired",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "exception_handlers",
    "problem",
]
