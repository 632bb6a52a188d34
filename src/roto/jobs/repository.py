"""SQL for jobs, the outbox and idempotency keys."""

# The f-strings below only splice in the JOB_COLUMNS constant, never input.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from roto.jobs.schemas import ErrorInfo, Job, Progress
from roto.timefmt import rfc3339


class JobRow(msgspec.Struct):
    """A jobs row, as the services and workers see it."""

    id: uuid.UUID
    user_id: uuid.UUID
    video_id: uuid.UUID | None
    type: str
    status: str
    payload: dict[str, Any]
    progress_done: int
    progress_total: int
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    attempts: int
    request_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_expires_at: datetime | None = None

    def to_wire(self) -> Job:
        return Job(
            id=str(self.id),
            type=self.type,  # type: ignore[arg-type]
            status=self.status,  # type: ignore[arg-type]
            video_id=str(self.video_id) if self.video_id else None,
            progress=Progress(done=self.progress_done, total=self.progress_total),
            created_at=rfc3339(self.created_at) or "",
            started_at=rfc3339(self.started_at),
            finished_at=rfc3339(self.finished_at),
            error=ErrorInfo(self.error_code, self.error_message or "") if self.error_code else None,
            result=self.result,
        )


class IdempotentAnswer(msgspec.Struct):
    """What a key answered: its job and status code, and the hash of the request it came with
    (None for keys stored before hashes were)."""

    job_id: uuid.UUID
    status_code: int
    request_hash: bytes | None


class OutboxRow(msgspec.Struct):
    id: int
    job_id: uuid.UUID
    queue: str
    body: str
    attempts: int
    traceparent: str | None = None


JOB_COLUMNS = (
    "id, user_id, video_id, type, status, payload, progress_done, progress_total, result, "
    "error_code, error_message, attempts, request_id, created_at, started_at, finished_at, "
    "lease_expires_at"
)

# The job and its outbox message in one statement (one round trip on a click's path).
INSERT_JOB_WITH_MESSAGE = f"""
WITH job AS (
    INSERT INTO jobs (id, user_id, video_id, type, payload, progress_total, request_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING {JOB_COLUMNS}
), message AS (
    INSERT INTO outbox (job_id, queue, body, traceparent, available_at)
    SELECT id, $8, $9, $10, now() + make_interval(secs => $11) FROM job
)
SELECT {JOB_COLUMNS} FROM job
"""
SELECT_JOB = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"
SELECT_JOB_FOR_USER = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND user_id = $2"
LIST_JOBS = f"""
SELECT {JOB_COLUMNS} FROM jobs
WHERE user_id = $1
  AND ($2::uuid IS NULL OR video_id = $2)
  AND ($3::text IS NULL OR status = $3)
  AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $6
"""
# A worker takes a job that is queued, or running under a lease that ran out (its worker died
# or hung); the claim is a lease of $2 seconds, and ``attempts`` numbers it.
CLAIM_JOB = f"""
UPDATE jobs SET status = 'running', started_at = coalesce(started_at, now()),
                attempts = attempts + 1, lease_expires_at = now() + make_interval(secs => $2)
WHERE id = $1
  AND (status = 'queued'
       OR (status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at <= now())))
RETURNING {JOB_COLUMNS}
"""
# Only the claim that holds the lease (its attempt) may extend or release it.
EXTEND_LEASE = """
UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3)
WHERE id = $1 AND attempts = $2 AND status = 'running'
RETURNING id
"""
RELEASE_LEASE = """
UPDATE jobs SET lease_expires_at = now()
WHERE id = $1 AND attempts = $2 AND status = 'running'
"""
UPDATE_PROGRESS = """
UPDATE jobs SET progress_done = $2, progress_total = $3
WHERE id = $1 AND status = 'running'
"""
# With an attempt ($6), only that claim may finish the job: a worker whose lease ran out and
# whose job another worker took cannot store an outcome over the new attempt's.
FINISH_JOB = f"""
UPDATE jobs SET status = $2, result = $3, error_code = $4, error_message = $5,
                finished_at = now(), progress_done = CASE WHEN $2 = 'succeeded'
                    THEN progress_total ELSE progress_done END
WHERE id = $1 AND status IN ('queued', 'running') AND ($6::int IS NULL OR attempts = $6)
RETURNING {JOB_COLUMNS}
"""
# The same, and the job's unsent messages withdrawn once it has its outcome (one round trip);
# nothing is withdrawn when the job was not moved.
FINISH_JOB_AND_WITHDRAW = f"""
WITH finished AS ({FINISH_JOB}),
withdrawn AS (
    DELETE FROM outbox
    WHERE id IN (
        SELECT id FROM outbox
        WHERE job_id = $1 AND EXISTS (SELECT FROM finished)
        FOR UPDATE SKIP LOCKED
    )
)
SELECT {JOB_COLUMNS} FROM finished
"""
# A video's unfinished jobs, canceled before the video goes.
CANCEL_VIDEO_JOBS = f"""
UPDATE jobs SET status = 'canceled', finished_at = now()
WHERE video_id = $1 AND status IN ('queued', 'running')
RETURNING {JOB_COLUMNS}
"""
CANCEL_JOB = f"""
UPDATE jobs SET status = 'canceled', finished_at = now()
WHERE id = $1 AND user_id = $2 AND status IN ('queued', 'running')
RETURNING {JOB_COLUMNS}
"""
SELECT_STATUS = "SELECT status FROM jobs WHERE id = $1"

# A job with an outcome needs no message: its unsent rows go (rows a relay pass is sending are
# left to it, not waited for).
WITHDRAW_OUTBOX = """
DELETE FROM outbox
WHERE id IN (SELECT id FROM outbox WHERE job_id = $1 FOR UPDATE SKIP LOCKED)
"""
SEND_OUTBOX_NOW = "UPDATE outbox SET available_at = now() WHERE job_id = $1"
# Up to $1 due rows of each queue in $2, oldest first: a burst on one queue does not hold back
# another's messages (a click behind a thousand propagations goes out in the same pass).
SELECT_DUE_OUTBOX = """
SELECT due.id, due.job_id, due.queue, due.body, due.attempts, due.traceparent
FROM unnest($2::text[]) AS wanted (queue)
CROSS JOIN LATERAL (
    SELECT id, job_id, queue, body, attempts, traceparent FROM outbox
    WHERE outbox.queue = wanted.queue AND available_at <= now()
    ORDER BY id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
) AS due
"""
DELETE_OUTBOX_ROWS = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
RETRY_OUTBOX = """
UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                  available_at = now() + make_interval(secs => $3)
WHERE id = $1
"""
COUNT_OUTBOX = "SELECT count(*) FROM outbox"

SELECT_IDEMPOTENCY = """
SELECT job_id, status_code, request_hash FROM idempotency_keys
WHERE user_id = $1 AND key = $2 AND created_at > now() - make_interval(secs => $3)
"""
DELETE_STALE_IDEMPOTENCY = """
DELETE FROM idempotency_keys
WHERE user_id = $1 AND key = $2 AND created_at <= now() - make_interval(secs => $3)
"""
INSERT_IDEMPOTENCY = """
INSERT INTO idempotency_keys (user_id, key, job_id, status_code, request_hash)
VALUES ($1, $2, $3, $4, $5)
"""


def _job(record: asyncpg.Record | None) -> JobRow | None:
    return None if record is None else msgspec.convert(dict(record), JobRow)


async def insert_job_with_message(
    conn: asyncpg.Connection,
    *,
    job_id: uuid.UUID,
    user_id: uuid.UUID,
    video_id: uuid.UUID | None,
    job_type: str,
    payload: dict[str, Any],
    progress_total: int,
    request_id: str | None,
    queue: str,
    body: str,
    traceparent: str | None,
    hold_s: float,
) -> JobRow:
    """A queued job and its outbox message (for ``queue``), due after ``hold_s`` seconds."""
    record = await conn.fetchrow(
        INSERT_JOB_WITH_MESSAGE,
        job_id,
        user_id,
        video_id,
        job_type,
        payload,
        progress_total,
        request_id,
        queue,
        body,
        traceparent,
        hold_s,
    )
    job = _job(record)
    assert job is not None
    return job


async def get_job(conn: asyncpg.Connection, job_id: uuid.UUID) -> JobRow | None:
    return _job(await conn.fetchrow(SELECT_JOB, job_id))


async def get_job_for_user(
    conn: asyncpg.Connection, job_id: uuid.UUID, user_id: uuid.UUID
) -> JobRow | None:
    return _job(await conn.fetchrow(SELECT_JOB_FOR_USER, job_id, user_id))


async def list_jobs(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    *,
    video_id: uuid.UUID | None,
    status: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[JobRow]:
    stamp, last_id = after if after else (None, None)
    records = await conn.fetch(LIST_JOBS, user_id, video_id, status, stamp, last_id, limit)
    return [msgspec.convert(dict(r), JobRow) for r in records]


async def claim_job(
    conn: asyncpg.Connection, job_id: uuid.UUID, lease_s: float = 60.0
) -> JobRow | None:
    """Mark the job running under a lease of ``lease_s`` (again, after a dead worker's lease ran
    out); None if it is finished, gone, or running under another worker's lease."""
    return _job(await conn.fetchrow(CLAIM_JOB, job_id, float(lease_s)))


async def extend_lease(conn: asyncpg.Connection, job: JobRow, lease_s: float) -> bool:
    """Extend ``job``'s lease (the claim ``job`` came from); False once it is no longer held
    by that claim (the job finished, was canceled or deleted, or was claimed again)."""
    return await conn.fetchval(EXTEND_LEASE, job.id, job.attempts, float(lease_s)) is not None


async def release_lease(conn: asyncpg.Connection, job: JobRow) -> None:
    """End ``job``'s lease now, so that its next delivery may claim it at once."""
    await conn.execute(RELEASE_LEASE, job.id, job.attempts)


async def update_progress(
    conn: asyncpg.Connection, job_id: uuid.UUID, done: int, total: int
) -> None:
    await conn.execute(UPDATE_PROGRESS, job_id, done, total)


async def finish_job(
    conn: asyncpg.Connection,
    job_id: uuid.UUID,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    attempt: int | None = None,
    withdraw: bool = False,
) -> JobRow | None:
    """Move an unfinished job to a terminal status; None if it was already finished (or, with
    ``attempt``, claimed again since that attempt). With ``withdraw``, the same statement drops
    the job's unsent outbox messages once it is moved (a message the fast lane held back is no
    longer needed)."""
    statement = FINISH_JOB_AND_WITHDRAW if withdraw else FINISH_JOB
    return _job(
        await conn.fetchrow(statement, job_id, status, result, error_code, error_message, attempt)
    )


async def cancel_job(
    conn: asyncpg.Connection, job_id: uuid.UUID, user_id: uuid.UUID
) -> JobRow | None:
    return _job(await conn.fetchrow(CANCEL_JOB, job_id, user_id))


async def cancel_video_jobs(conn: asyncpg.Connection, video_id: uuid.UUID) -> list[JobRow]:
    """Cancel every unfinished job of the video; the jobs canceled."""
    return [msgspec.convert(dict(r), JobRow) for r in await conn.fetch(CANCEL_VIDEO_JOBS, video_id)]


async def get_status(conn: asyncpg.Connection, job_id: uuid.UUID) -> str | None:
    status: str | None = await conn.fetchval(SELECT_STATUS, job_id)
    return status


async def withdraw_outbox(conn: asyncpg.Connection, job_id: uuid.UUID) -> None:
    """Drop the job's messages that are not sent yet (it has its outcome)."""
    await conn.execute(WITHDRAW_OUTBOX, job_id)


async def send_outbox_now(conn: asyncpg.Connection, job_id: uuid.UUID) -> None:
    """Make the job's held messages due at once."""
    await conn.execute(SEND_OUTBOX_NOW, job_id)


async def lock_due_outbox(
    conn: asyncpg.Connection, limit: int, queues: Sequence[str]
) -> list[OutboxRow]:
    """Up to ``limit`` due outbox rows of each of ``queues``, locked for this transaction
    (others skip them)."""
    records = await conn.fetch(SELECT_DUE_OUTBOX, limit, list(queues))
    return [msgspec.convert(dict(r), OutboxRow) for r in records]


async def delete_outbox_rows(conn: asyncpg.Connection, outbox_ids: list[int]) -> None:
    if outbox_ids:
        await conn.execute(DELETE_OUTBOX_ROWS, outbox_ids)


async def retry_outbox_later(
    conn: asyncpg.Connection, outbox_id: int, error: str, delay_s: float
) -> None:
    await conn.execute(RETRY_OUTBOX, outbox_id, error[:500], delay_s)


async def count_outbox(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval(COUNT_OUTBOX)
    return count


async def find_idempotent_job(
    conn: asyncpg.Connection, user_id: uuid.UUID, key: str, ttl_s: int
) -> IdempotentAnswer | None:
    """What this key answered earlier, within the TTL."""
    record = await conn.fetchrow(SELECT_IDEMPOTENCY, user_id, key, float(ttl_s))
    return None if record is None else msgspec.convert(dict(record), IdempotentAnswer)


async def remember_idempotent_job(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    key: str,
    job_id: uuid.UUID,
    status_code: int,
    ttl_s: int,
    request_hash: bytes | None,
) -> None:
    await conn.execute(DELETE_STALE_IDEMPOTENCY, user_id, key, float(ttl_s))
    await conn.execute(INSERT_IDEMPOTENCY, user_id, key, job_id, status_code, request_hash)
