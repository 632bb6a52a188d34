"""A job's trace context survives the trip: the request's span is stored with the outbox row,
the relay's send is its child and travels as the SQS message's ``traceparent`` attribute (real
moto), and the worker runs the job in a span that is the send's child, in the same trace."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from roto import tracing
from roto.jobs import outbox
from roto.resources import Resources
from roto.settings import Settings
from roto.worker.contract import JobContext, JobHandler
from tests.tracing_support import named, recorded_spans
from tests.videos.helpers import ingesting_video
from tests.worker.support import (
    create_user,
    make_role,
    running_worker,
    wait_for,
    wait_for_status,
)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with recorded_spans() as exporter:
        yield exporter


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def context_of(span: ReadableSpan) -> trace.SpanContext:
    context = span.get_span_context()
    assert context is not None
    return context


async def test_the_outbox_row_and_the_message_carry_the_request_trace(
    resources: Resources, settings: Settings, sqs_sync: Any, spans: InMemorySpanExporter
) -> None:
    user_id = await create_user(resources)
    with tracing.tracer().start_as_current_span("POST /v1/test") as request:
        async with resources.pool.acquire() as conn, conn.transaction():
            job = await outbox.create_job(conn, user_id=user_id, video_id=None, job_type="ingest")
        stored = await resources.pool.fetchval("SELECT traceparent FROM outbox")
    assert stored == tracing.traceparent_of(request)

    assert await outbox.relay(resources.pool, resources.sqs, resources.queue_urls) == 1

    url = sqs_sync.get_queue_url(QueueName=settings.queue_media)["QueueUrl"]
    answer = sqs_sync.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=5
    )
    (message,) = answer["Messages"]
    send = named(spans, "send media")
    assert send.kind is trace.SpanKind.PRODUCER
    assert context_of(send).trace_id == request.get_span_context().trace_id
    assert parent_id(send) == request.get_span_context().span_id
    assert dict(send.attributes or {})["roto.job.id"] == str(job.id)
    assert message["MessageAttributes"]["traceparent"] == {
        "DataType": "String",
        "StringValue": tracing.traceparent_of(trace.NonRecordingSpan(context_of(send))),
    }


async def test_a_job_queued_by_a_request_runs_in_a_span_of_that_request_trace(
    client: AsyncTestClient,
    headers: dict[str, str],
    resources: Resources,
    spans: InMemorySpanExporter,
) -> None:
    seen: list[trace.SpanContext] = []

    async def run(ctx: JobContext) -> dict[str, Any]:
        seen.append(trace.get_current_span().get_span_context())
        return {}

    _, job = await ingesting_video(client, headers)  # the app's own relay sends it
    async with running_worker(resources, make_role({"ingest": JobHandler(run=run)})):
        done = await wait_for_status(resources, uuid.UUID(job["id"]), {"succeeded", "failed"})
        assert done.status == "succeeded"

        async def job_span_ended() -> bool:
            return any(s.name == "job ingest" for s in spans.get_finished_spans())

        await wait_for(job_span_ended, 10, "the job's span to end")

    request = named(spans, "POST /v1/videos/{video_id}/upload-complete")
    send = named(spans, "send media")
    worker = named(spans, "job ingest")
    assert request.kind is trace.SpanKind.SERVER
    assert dict(request.attributes or {})["http.response.status_code"] == 202
    assert worker.kind is trace.SpanKind.CONSUMER
    assert len({context_of(s).trace_id for s in (request, send, worker)}) == 1
    assert parent_id(send) == context_of(request).span_id
    assert parent_id(worker) == context_of(send).span_id
    assert worker.parent is not None and worker.parent.is_remote
    attributes = dict(worker.attributes or {})
    assert attributes["roto.job.id"] == job["id"]
    assert attributes["messaging.destination.name"] == "media"
    assert attributes["roto.job.receives"] == 1
    assert attributes["roto.job.disposition"] == "delete"
    # The handler runs inside the job's span: the model's spans become its children.
    assert seen == [context_of(worker)]
