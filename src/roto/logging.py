"""structlog configured for JSON lines, with a request id bound per request or per job, and the
trace and span ids of the current span (roto.tracing) on every line written inside one."""

from __future__ import annotations

import logging
import sys
import uuid
from typing import Any

import structlog
from litestar import Request
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace

REQUEST_ID_HEADER = "x-request-id"


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Route stdlib and structlog output through one JSON (or console) renderer on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(name)s %(message)s")
    for noisy in ("botocore", "aiobotocore", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def add_trace_ids(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """``trace_id`` and ``span_id`` of the span current where the line is logged (none while
    tracing is off), so a log line leads to its trace and back."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id(request: Request[Any, Any, Any]) -> str | None:
    """The id that ``request_id_middleware`` bound to this request (jobs carry it to workers)."""
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Bind ``request_id`` (from ``X-Request-ID`` or fresh) to the logs and echo it back."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.encode())
        request_id = incoming.decode("latin-1")[:64] if incoming else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await app(scope, receive, send_with_id)

    return middleware
