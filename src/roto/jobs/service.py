"""Use cases of jobs: list, look up and cancel the caller's jobs."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
import structlog
from redis.exceptions import RedisError

from roto.errors import Conflict, NotFound
from roto.exports import download
from roto.jobs import events
from roto.jobs import repository as repo
from roto.jobs.contracts import EXPORT, INGEST
from roto.jobs.schemas import Job
from roto.pagination import Page, decode_cursor, encode_cursor
from roto.resources import Resources
from roto.videos import repository as videos_repo

log = structlog.get_logger(__name__)

ResultView = Callable[[Resources, repo.JobRow], Awaitable[dict[str, Any] | None]]
CancelEffect = Callable[[asyncpg.Connection, repo.JobRow], Awaitable[None]]


async def _fail_canceled_ingest(conn: asyncpg.Connection, job: repo.JobRow) -> None:
    # Otherwise the video would wait in `ingesting` for a job that will never run.
    if job.video_id is not None:
        await videos_repo.fail_ingest(conn, job.video_id, "canceled", "ingest was canceled")


# What the jobs endpoints do differently for some job types, in one place.
#: How a job's stored result is shown: a finished export's download link is renewed once it has
#: run out, so the archive can be fetched for as long as it is stored.
RESULT_VIEWS: dict[str, ResultView] = {EXPORT.name: download.current_result}
#: What a cancel changes besides the job, in the same transaction.
CANCEL_EFFECTS: dict[str, CancelEffect] = {INGEST.name: _fail_canceled_ingest}


async def to_wire(resources: Resources, job: repo.JobRow) -> Job:
    """The job as clients see it (see ``RESULT_VIEWS``)."""
    wire = job.to_wire()
    view = RESULT_VIEWS.get(job.type)
    if view is None:
        return wire
    result = await view(resources, job)
    return wire if result is job.result else msgspec.structs.replace(wire, result=result)


async def get_job(resources: Resources, user_id: uuid.UUID, job_id: uuid.UUID) -> repo.JobRow:
    job = await repo.get_job_for_user(resources.pool, job_id, user_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


async def list_jobs(
    resources: Resources,
    user_id: uuid.UUID,
    *,
    video_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[Job]:
    after = decode_cursor(cursor) if cursor else None
    async with resources.pool.acquire() as conn:
        rows = await repo.list_jobs(
            conn, user_id, video_id=video_id, status=status, after=after, limit=limit + 1
        )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more else None
    return Page([await to_wire(resources, row) for row in page], next_cursor)


async def cancel_job(resources: Resources, user_id: uuid.UUID, job_id: uuid.UUID) -> repo.JobRow:
    """Cancel a queued or running job and tell its listeners; a finished job is a 409."""
    async with resources.pool.acquire() as conn, conn.transaction():
        job = await repo.cancel_job(conn, job_id, user_id)
        if job is None:
            current = await repo.get_job_for_user(conn, job_id, user_id)
            if current is None:
                raise NotFound(f"job {job_id} not found")
            raise Conflict(f"job {job_id} is already {current.status}")
        effect = CANCEL_EFFECTS.get(job.type)
        if effect is not None:
            await effect(conn, job)
    try:
        await events.publish_status(resources.redis, job.to_wire())
    except (RedisError, OSError) as exc:
        # Listeners still see the cancel when their stream re-reads the job.
        log.warning("job_cancel_publish_failed", job_id=str(job_id), error=repr(exc))
    return job
