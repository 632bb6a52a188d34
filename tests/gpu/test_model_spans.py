"""Batcher requests as spans: a request's wait and its batch's model pass become children of the
job's span, placed in time by what the batcher measured; failures mark the span they happened
in; with tracing off nothing is recorded. A real batcher with toy model functions, no model."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from roto import tracing
from roto_gpu import model_spans
from roto_gpu.batcher import Batcher, DeadlineExceeded, Priority, RequestTiming
from tests.tracing_support import named, recorded_spans

MODEL_S = 0.05


def slow_double(items: list[int]) -> list[int]:
    time.sleep(MODEL_S)
    return [item * 2 for item in items]


def refuse(items: list[int]) -> list[int]:
    raise ValueError("the model cannot take it")


@pytest.fixture
async def batcher() -> AsyncIterator[Batcher]:
    value = Batcher({"double": slow_double, "refuse": refuse}, max_wait_ms=0)
    yield value
    await value.close()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with recorded_spans() as exporter:
        yield exporter


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_wait_and_model_pass_are_children_of_the_job_span_in_order(
    batcher: Batcher, spans: InMemorySpanExporter
) -> None:
    timing = RequestTiming()
    with tracing.tracer().start_as_current_span("job segment") as job:
        before = time.time_ns()
        answer = await model_spans.submit(
            batcher, "double", 21, priority=Priority.INTERACTIVE, timing=timing
        )
        after = time.time_ns()
    assert answer == 42
    assert timing.batch_size == 1 and timing.model_s >= MODEL_S  # the caller's timing too

    queue, model = named(spans, "batcher.queue"), named(spans, "model double")
    job_id = job.get_span_context().span_id
    assert parent_of(queue) == parent_of(model) == job_id
    assert queue.start_time is not None and queue.end_time is not None
    assert model.start_time is not None and model.end_time is not None
    assert before <= queue.start_time <= queue.end_time == model.start_time <= model.end_time
    assert model.end_time <= after
    assert model.end_time - model.start_time >= MODEL_S * 1e9 * 0.9
    assert dict(model.attributes or {}) == {
        "roto.batcher.kind": "double",
        "roto.batcher.priority": "interactive",
        "roto.batcher.batch_size": 1,
    }
    assert model.status.status_code is StatusCode.UNSET


async def test_a_model_error_marks_the_model_span(
    batcher: Batcher, spans: InMemorySpanExporter
) -> None:
    with (
        tracing.tracer().start_as_current_span("job segment"),
        pytest.raises(ValueError, match="cannot take it"),
    ):
        await model_spans.submit(batcher, "refuse", 1, priority=Priority.BATCH)

    assert named(spans, "batcher.queue").status.status_code is StatusCode.UNSET
    model = named(spans, "model refuse")
    assert model.status.status_code is StatusCode.ERROR
    assert "roto.batcher.batch_size" not in dict(model.attributes or {})


async def test_a_request_past_its_deadline_has_only_a_failed_wait(
    batcher: Batcher, spans: InMemorySpanExporter
) -> None:
    with pytest.raises(DeadlineExceeded):
        await model_spans.submit(
            batcher, "double", 1, priority=Priority.BATCH, deadline=time.monotonic() - 1
        )

    (queue,) = spans.get_finished_spans()
    assert queue.name == "batcher.queue"
    assert queue.status.status_code is StatusCode.ERROR


class RecordingBatcher:
    """Records what ``submit`` was asked."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    async def submit(self, kind: str, item: Any, **options: Any) -> Any:
        self.asked.append(options)
        return item


async def test_with_tracing_off_the_request_goes_straight_to_the_batcher() -> None:
    assert not tracing.is_enabled()
    recording = RecordingBatcher()
    answer = await model_spans.submit(
        recording,  # type: ignore[arg-type]
        "double",
        4,
        priority=Priority.BATCH,
    )
    assert answer == 4
    # No timing asked for: the batcher does no bookkeeping for spans nobody records.
    assert recording.asked == [{"priority": Priority.BATCH, "deadline": None, "timing": None}]
