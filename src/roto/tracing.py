"""OpenTelemetry traces of one process: over OTLP/gRPC when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is
set (the ADOT collector in AWS), else as OTLP JSON lines under ``traces_dir`` (``make run``),
else none at all: without a provider every helper here returns at once.

A job's trace context travels as a W3C ``traceparent`` string: stored with its outbox row, sent
as an SQS message attribute, and taken up by the worker that runs the job.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from roto.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

TRACEPARENT = "traceparent"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# Spans written to files are flushed this often, so a reader of one click sees it promptly.
FILE_EXPORT_DELAY_MS = 500

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_tracer: trace.Tracer = trace.NoOpTracer()


def is_enabled() -> bool:
    """Whether this process records spans (a provider is installed)."""
    return _provider is not None


def tracer() -> trace.Tracer:
    """The process's tracer; a no-op one while tracing is off."""
    return _tracer


def service_name(settings: Settings, component: str) -> str:
    """``OTEL_SERVICE_NAME``, else ``roto-<env>-<component>`` (api, media, gpu)."""
    return os.environ.get("OTEL_SERVICE_NAME") or f"roto-{settings.env}-{component}"


def start_tracing(settings: Settings, component: str) -> bool:
    """Install this process's provider when an OTLP endpoint or ``traces_dir`` says where spans
    go; False (and nothing installed) when neither does."""
    name = service_name(settings, component)
    processor = _processor(settings, name)
    if processor is None:
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    # The sampler is the SDK's default, or what OTEL_TRACES_SAMPLER says.
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: name, "deployment.environment": settings.env})
    )
    provider.add_span_processor(processor)
    install(provider)
    return True


def _processor(settings: Settings, name: str) -> SpanProcessor | None:
    if any(os.environ.get(variable) for variable in ENDPOINT_VARIABLES):
        # Imported here: grpc is slow to import and only the cloud needs it.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        return BatchSpanProcessor(OTLPSpanExporter())
    if settings.traces_dir:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from roto.trace_files import JsonLinesSpanExporter, prune

        folder = Path(settings.traces_dir)
        prune(folder)
        path = folder / f"{name}-{os.getpid()}.jsonl"
        return BatchSpanProcessor(
            JsonLinesSpanExporter(path), schedule_delay_millis=FILE_EXPORT_DELAY_MS
        )
    return None


def install(provider: TracerProvider | None) -> None:
    """Make ``provider`` this process's (None: tracing off). Kept here rather than as the
    global provider, which can be set only once per process."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer("roto") if provider is not None else trace.NoOpTracer()


def stop_tracing() -> None:
    """Export what is left and turn tracing off."""
    provider = _provider
    install(None)
    if provider is not None:
        provider.shutdown()


def current_traceparent() -> str | None:
    """The current span's context as a ``traceparent`` string; None while tracing is off."""
    if _provider is None:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get(TRACEPARENT)


def traceparent_of(span: trace.Span) -> str | None:
    """``span``'s context as a ``traceparent`` string (None for an invalid span)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get(TRACEPARENT)


def context_from(carrier: Mapping[str, str]) -> Context:
    """The parent context that ``carrier`` (message attributes, HTTP headers) names; an empty
    one when it names none or an invalid one."""
    return _propagator.extract(carrier)


def consumer_span(
    name: str, carrier: Mapping[str, str], attributes: Attributes = None
) -> contextlib.AbstractContextManager[trace.Span]:
    """The current span while a received message is handled, a child of the context that
    ``carrier`` (its attributes) names; does nothing while tracing is off."""
    if _provider is None:
        return contextlib.nullcontext(trace.INVALID_SPAN)
    return _tracer.start_as_current_span(
        name, context=context_from(carrier), kind=SpanKind.CONSUMER, attributes=attributes
    )
