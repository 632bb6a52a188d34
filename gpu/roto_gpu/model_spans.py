"""Batcher requests as spans of the job that made them: ``batcher.queue`` for the wait in the
batcher's queue and ``model <kind>`` for its batch's pass through the model, placed by the times
the batcher reports (``RequestTiming``). They are made here, in the submitting coroutine once
its answer is back, so they are children of the job's span; the model thread knows no context.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from roto import tracing
from roto_gpu.batcher import Batcher, Priority, RequestTiming

NS = 1_000_000_000


async def submit(
    batcher: Batcher,
    kind: str,
    item: Any,
    *,
    priority: Priority,
    deadline: float | None = None,
    timing: RequestTiming | None = None,
) -> Any:
    """``batcher.submit``, recorded as spans while tracing is on."""
    if not tracing.is_enabled():
        return await batcher.submit(kind, item, priority=priority, deadline=deadline, timing=timing)
    timing = timing or RequestTiming()
    started_ns = time.time_ns()
    failure: BaseException | None = None
    try:
        return await batcher.submit(kind, item, priority=priority, deadline=deadline, timing=timing)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        record(kind, priority, timing, started_ns, time.time_ns(), failure)


def record(
    kind: str,
    priority: Priority,
    timing: RequestTiming,
    started_ns: int,
    ended_ns: int,
    failure: BaseException | None = None,
) -> None:
    """The spans of one request submitted at ``started_ns`` and answered at ``ended_ns``."""
    tracer = tracing.tracer()
    attributes = {"roto.batcher.kind": kind, "roto.batcher.priority": priority.name.lower()}
    taken = timing.queued_s > 0 or timing.batch_size > 0  # the model thread took it
    queued_until = min(started_ns + round(timing.queued_s * NS), ended_ns) if taken else ended_ns
    queue = tracer.start_span("batcher.queue", start_time=started_ns, attributes=attributes)
    if failure is not None and not taken:  # refused, past its deadline, or the batcher closed
        _fail(queue, failure)
    queue.end(end_time=queued_until)
    if not taken:
        return
    model = tracer.start_span(f"model {kind}", start_time=queued_until, attributes=attributes)
    if timing.batch_size > 0:
        model.set_attribute("roto.batcher.batch_size", timing.batch_size)
        model_until = min(queued_until + round(timing.model_s * NS), ended_ns)
    else:  # failed, or retried alone after its batch failed: the batcher did not time it
        model_until = ended_ns
    if failure is not None:
        _fail(model, failure)
    model.end(end_time=model_until)


def _fail(span: Span, failure: BaseException) -> None:
    span.record_exception(failure)
    span.set_status(Status(StatusCode.ERROR, type(failure).__name__))
