"""A server span around each HTTP request of the API, while tracing is on: the root of a click's
trace, or the child of the caller's ``traceparent`` header."""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from roto import tracing

# Probes and scrapes, every few seconds from the load balancer, ECS and Prometheus: no spans.
UNTRACED_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def request_span_middleware(app: ASGIApp) -> ASGIApp:
    """Run each HTTP request inside a span named by its method and route, with its status."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        # Routed already: Litestar runs middleware on the handler it matched.
        route = str(scope.get("path_template") or scope.get("path", ""))
        if scope["type"] != "http" or not tracing.is_enabled() or route in UNTRACED_ROUTES:
            await app(scope, receive, send)
            return
        method = str(scope.get("method", ""))
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers") or []
            if name in (b"traceparent", b"tracestate")
        }
        with tracing.tracer().start_as_current_span(
            f"{method} {route}",
            context=tracing.context_from(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route},
        ) as span:
            span.set_attribute("roto.request_id", scope.get("state", {}).get("request_id", ""))

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    record_status(span, message["status"])
                await send(message)

            await app(scope, receive, send_with_status)

    return middleware


def record_status(span: trace.Span, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
