"""The transactional outbox: a job is a row first and an SQS message second.

``create_job`` writes the job and its message in the caller's transaction. After the commit,
``relay`` sends due messages to SQS and deletes them from the outbox; a message that cannot be
sent stays and is retried with backoff by the relay loop, so a job survives an SQS outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
import structlog

from roto.jobs import repository as repo
from roto.messages import JOB_QUEUES, JobMessage, encode_message

log = structlog.get_logger(__name__)
RELAY_BATCH = 50
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
) -> repo.JobRow:
    """Insert a queued job and its outbox message; call inside a transaction."""
    job_id = uuid.uuid4()
    job = await repo.insert_job(
        conn,
        job_id=job_id,
        user_id=user_id,
        video_id=video_id,
        job_type=job_type,
        payload=payload or {},
        progress_total=progress_total,
        request_id=request_id,
    )
    body = encode_message(JobMessage(job_id=str(job_id), type=job_type, request_id=request_id))
    await repo.insert_outbox(conn, job_id, JOB_QUEUES[job_type], body)
    return job


async def relay(pool: asyncpg.Pool, sqs: Any, queue_urls: dict[str, str]) -> int:
    """Send every due outbox message once; returns how many were sent."""
    sent = 0
    async with pool.acquire() as conn, conn.transaction():
        rows = await repo.lock_due_outbox(conn, RELAY_BATCH)
        for row in rows:
            try:
                await sqs.send_message(QueueUrl=queue_urls[row.queue], MessageBody=row.body)
            except Exception as exc:
                delay = min(MAX_BACKOFF_S, 0.5 * 2**row.attempts)
                await repo.retry_outbox_later(conn, row.id, repr(exc), delay)
                log.warning(
                    "outbox_send_failed", job_id=str(row.job_id), error=repr(exc), retry_in_s=delay
                )
                continue
            await repo.delete_outbox(conn, row.id)
            sent += 1
    return sent


async def relay_forever(
    pool: asyncpg.Pool, sqs: Any, queue_urls: dict[str, str], interval_s: float, wake: asyncio.Event
) -> None:
    """The relay loop of the API process: runs on ``wake`` (a new job) or every interval."""
    while True:
        try:
            await relay(pool, sqs, queue_urls)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database itself may be briefly away
            log.warning("outbox_relay_failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=interval_s)
        wake.clear()
