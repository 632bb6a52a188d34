"""The API's span per request: named by method and route, with the status it answered, a child
of the caller's traceparent; probes make none."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.tracing_support import named, recorded_spans

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with recorded_spans() as exporter:
        yield exporter


async def test_a_request_span_names_its_route_and_status_under_the_caller_trace(
    client: AsyncTestClient, headers: dict[str, str], spans: InMemorySpanExporter
) -> None:
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    response = await client.get(
        f"/v1/jobs/{uuid.uuid4()}", headers={**headers, "traceparent": traceparent}
    )
    assert response.status_code == 404

    span = named(spans, "GET /v1/jobs/{job_id}")
    assert span.kind is SpanKind.SERVER
    assert span.parent is not None and f"{span.parent.span_id:016x}" == CALLER_SPAN
    assert f"{span.context.trace_id:032x}" == CALLER_TRACE
    attributes = dict(span.attributes or {})
    assert attributes["http.response.status_code"] == 404
    assert attributes["http.request.method"] == "GET"
    assert attributes["roto.request_id"] == response.headers["x-request-id"]
    assert span.status.status_code is StatusCode.UNSET  # a client's error is not the server's


async def test_probes_make_no_spans(client: AsyncTestClient, spans: InMemorySpanExporter) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert spans.get_finished_spans() == ()
