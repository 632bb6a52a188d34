"""The transactional outbox: a job is a row first and an SQS message second.

``create_job`` writes the job and its message in the caller's transaction. After the commit,
``relay`` sends due messages to SQS and deletes them from the outbox; a message that cannot be
sent stays and is retried with backoff by the relay loop, so a job survives an SQS outage. A
click's message is held back for a moment while its job goes through the fast lane
(``roto.jobs.lane``), and withdrawn unsent once the job has its outcome.

While tracing is on, a row keeps the trace context of the request that queued it; its send is a
span of that trace, and the message carries the send's context (the ``traceparent`` attribute)
to the worker.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, NamedTuple

import asyncpg
import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from roto import tracing
from roto.jobs import repository as repo
from roto.jobs.contracts import JOB_QUEUES, JobMessage, encode_message
from roto.waits import wait_for_event

log = structlog.get_logger(__name__)
#: Outbox rows one relay pass takes of each queue, and messages per SendMessageBatch (SQS's
#: limit).
RELAY_BATCH = 100
SQS_BATCH = 10
MAX_BACKOFF_S = 30.0


async def create_job(
    conn: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    video_id: uuid.UUID | None,
    job_type: str,
    payload: dict[str, Any] | None = None,
    progress_total: int = 0,
    request_id: str | None = None,
    hold_s: float = 0.0,
) -> repo.JobRow:
    """Insert a queued job and its outbox message, due after ``hold_s`` seconds (a job offered
    on its fast lane, ``roto.jobs.lane``); call inside a transaction."""
    job_id = uuid.uuid4()
    body = encode_message(JobMessage(job_id=str(job_id), type=job_type, request_id=request_id))
    return await repo.insert_job_with_message(
        conn,
        job_id=job_id,
        user_id=user_id,
        video_id=video_id,
        job_type=job_type,
        payload=payload or {},
        progress_total=progress_total,
        request_id=request_id,
        queue=JOB_QUEUES[job_type],
        body=body,
        traceparent=tracing.current_traceparent(),
        hold_s=hold_s,
    )


class RelayPass(NamedTuple):
    taken: int  # due rows this pass locked: sent, or put back for a retry
    sent: int
    full: bool  # some queue had RELAY_BATCH due rows: more may be waiting


async def relay(pool: asyncpg.Pool, sqs: Any, queue_urls: dict[str, str]) -> int:
    """Send the due outbox messages (up to ``RELAY_BATCH`` a queue) once; returns how many were
    sent."""
    return (await relay_pass(pool, sqs, queue_urls)).sent


async def relay_pass(pool: asyncpg.Pool, sqs: Any, queue_urls: dict[str, str]) -> RelayPass:
    """One pass over the due outbox rows, up to ``RELAY_BATCH`` of each queue. Each queue's
    messages go ``SQS_BATCH`` to a call and the queues' calls run at once, so a burst on one
    queue neither holds back nor slows another's."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await repo.lock_due_outbox(conn, RELAY_BATCH, list(queue_urls))
        by_queue = {
            queue: [row for row in rows if row.queue == queue]
            for queue in dict.fromkeys(row.queue for row in rows)
        }
        batches = [
            chunk for queue_rows in by_queue.values() for chunk in _chunks(queue_rows, SQS_BATCH)
        ]
        outcomes = await asyncio.gather(*(_send(sqs, queue_urls, batch) for batch in batches))
        sent = [row_id for ok, _ in outcomes for row_id in ok]
        await repo.delete_outbox_rows(conn, sent)
        for _, failed in outcomes:
            for row, error in failed:
                delay = min(MAX_BACKOFF_S, 0.5 * 2**row.attempts)
                await repo.retry_outbox_later(conn, row.id, error, delay)
                log.warning(
                    "outbox_send_failed", job_id=str(row.job_id), error=error, retry_in_s=delay
                )
    full = any(len(queue_rows) >= RELAY_BATCH for queue_rows in by_queue.values())
    return RelayPass(taken=len(rows), sent=len(sent), full=full)


def _chunks(rows: list[repo.OutboxRow], size: int) -> list[list[repo.OutboxRow]]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


async def _send(
    sqs: Any, queue_urls: dict[str, str], rows: list[repo.OutboxRow]
) -> tuple[list[int], list[tuple[repo.OutboxRow, str]]]:
    """One SendMessageBatch of one queue's rows: the ids sent, and the rows that failed."""
    spans = (
        {row.id: _send_span(row) for row in rows if row.traceparent is not None}
        if tracing.is_enabled()
        else {}
    )
    try:
        answer = await sqs.send_message_batch(
            QueueUrl=queue_urls[rows[0].queue],
            Entries=[_entry(row, spans.get(row.id)) for row in rows],
        )
    except Exception as exc:
        _end_spans(spans, {row.id: repr(exc) for row in rows})
        return [], [(row, repr(exc)) for row in rows]
    by_id = {str(row.id): row for row in rows}
    sent_rows = [by_id[entry["Id"]] for entry in answer.get("Successful", [])]
    sent = [row.id for row in sent_rows]
    if sent_rows:
        log.info("outbox_sent", queue=rows[0].queue, job_ids=[str(row.job_id) for row in sent_rows])
    failed = [
        (by_id[entry["Id"]], f"{entry.get('Code')}: {entry.get('Message')}")
        for entry in answer.get("Failed", [])
    ]
    _end_spans(spans, {row.id: error for row, error in failed})
    return sent, failed


def _send_span(row: repo.OutboxRow) -> trace.Span:
    """The span of ``row``'s send, in the trace of the request that queued its job."""
    return tracing.tracer().start_span(
        f"send {row.queue}",
        context=tracing.context_from({tracing.TRACEPARENT: row.traceparent or ""}),
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "aws_sqs",
            "messaging.destination.name": row.queue,
            "roto.job.id": str(row.job_id),
            "roto.outbox.attempts": row.attempts,
        },
    )


def _entry(row: repo.OutboxRow, span: trace.Span | None) -> dict[str, Any]:
    """A SendMessageBatch entry; the message names its send as its parent (or, with tracing off
    here, still the request's context)."""
    entry: dict[str, Any] = {"Id": str(row.id), "MessageBody": row.body}
    traceparent = tracing.traceparent_of(span) if span is not None else row.traceparent
    if traceparent is not None:
        entry["MessageAttributes"] = {
            tracing.TRACEPARENT: {"DataType": "String", "StringValue": traceparent}
        }
    return entry


def _end_spans(spans: dict[int, trace.Span], errors: dict[int, str]) -> None:
    for row_id, span in spans.items():
        if row_id in errors:
            span.set_status(Status(StatusCode.ERROR, errors[row_id]))
        span.end()


async def relay_forever(
    pool: asyncpg.Pool, sqs: Any, queue_urls: dict[str, str], interval_s: float, wake: asyncio.Event
) -> None:
    """The relay loop of the API process: runs on ``wake`` (a new job) or every interval, and at
    once again while it finds full batches (a burst drains at SQS's pace, not once a second)."""
    while True:
        full = False
        try:
            full = (await relay_pass(pool, sqs, queue_urls)).full
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database itself may be briefly away
            log.warning("outbox_relay_failed", error=repr(exc))
        if full:
            continue
        await wait_for_event(wake, interval_s)
        wake.clear()
