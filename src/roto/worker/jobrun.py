"""One run of one job: claim the row under a lease, run the role's handler within the job type's
maximum run time, store the outcome, and say what should happen to the message. Also the ways a
job ends without its handler: failed from the dead-letter queue, stopped with its deleted video.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
import structlog

from roto import storage
from roto.billing import service as billing
from roto.jobs import events
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import JOB_KINDS, JobMessage
from roto.resources import Resources
from roto.settings import Settings
from roto.timefmt import utcnow
from roto.videos import repository as videos_repo
from roto.videos.storage import video_prefixes
from roto.worker.context import JobCanceled, JobContext, JobFailed
from roto.worker.contract import JobHandler
from roto.worker.receiver import Delivery

log = structlog.get_logger(__name__)

CANCELED_CODE = "canceled"
CANCELED_MESSAGE = "the job was canceled"
INTERNAL_ERROR = "internal_error"
TIMED_OUT = "timed_out"
DEAD_LETTERED = "dead_lettered"
#: The limit of a job type that has no contract (it cannot be run anyway).
DEFAULT_MAX_RUN_S = 3600.0
#: A lease runs out this much before its message comes back (both are extended together), so
#: the message of a job whose worker died finds the job free to claim, without a wasted receive.
LEASE_MARGIN_S = 5.0

#: Keeps a claimed job alive while it runs: given the job and its maximum run time.
KeepAlive = Callable[[jobs_repo.JobRow, float], AbstractAsyncContextManager[Any]]


class Disposition(enum.Enum):
    """What happens to a message once its job has run."""

    DELETE = "delete"  # the outcome is stored, or there was nothing to do
    RETRY = "retry"  # an unexpected error: SQS redelivers it after a short backoff
    DEAD_LETTER = "dead_letter"  # failed on its last allowed receive: on to the DLQ at once


@dataclass(frozen=True)
class Defer:
    """Another worker holds the job's lease: the message comes back once the lease has run out
    (a finished job then drops it, one whose worker died is claimed)."""

    delay_s: int


def describe_error(exc: BaseException) -> str:
    """The reason stored on a job that failed unexpectedly."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:1000] if text else type(exc).__name__


def lease_seconds(settings: Settings) -> float:
    """How long a claim holds its job without a heartbeat: a little less than the visibility
    timeout that the same heartbeat extends."""
    timeout = settings.worker_visibility_timeout_s
    return max(timeout - LEASE_MARGIN_S, timeout / 2)


def max_run_seconds(settings: Settings, job_type: str) -> float:
    """How long one attempt of a ``job_type`` job may run: its contract's limit, capped by
    ``worker_max_run_s`` when that is set."""
    kind = JOB_KINDS.get(job_type)
    own = kind.max_run_s if kind is not None else DEFAULT_MAX_RUN_S
    return min(own, settings.worker_max_run_s) if settings.worker_max_run_s > 0 else own


async def run_job(
    resources: Resources,
    role_name: str,
    handlers: Mapping[str, JobHandler],
    job_id: uuid.UUID,
    message: JobMessage,
    delivery: Delivery,
    keep_alive: KeepAlive | None = None,
) -> Disposition | Defer:
    """Run the job once. A finished or canceled job is not run again (delivery is
    at-least-once); a job running under another worker's lease is left to it; a job whose
    worker died (its lease ran out) is run again from the start, after its leftover uploads
    are aborted."""
    async with resources.pool.acquire() as conn:
        job = await jobs_repo.claim_job(conn, job_id, lease_seconds(resources.settings))
        current = None if job is not None else await jobs_repo.get_job(conn, job_id)
    if job is None:
        return await _not_runnable(resources, handlers, current)
    if job.attempts > 1:
        await sweep_job_uploads(resources, job)

    handler = handlers.get(job.type)
    if handler is None:
        reason = f"the {role_name} worker does not run {job.type} jobs"
        log.error("unsupported_job_type", queue=delivery.queue)
        await _finish(resources, None, job, "failed", error=("unsupported_job_type", reason))
        return Disposition.DELETE

    max_run_s = max_run_seconds(resources.settings, job.type)
    try:
        async with keep_alive(job, max_run_s) if keep_alive else contextlib.nullcontext():
            disposition = await _run(resources, handler, job, message, delivery, max_run_s)
    except asyncio.CancelledError:
        # Handed back at the drain timeout: the message is visible again at once, and the next
        # delivery must be able to claim the job then, not only once this lease has run out
        # (each early delivery would count towards the dead-letter queue).
        await _release_lease(resources, job)
        raise
    if await sweep_if_video_deleted(resources, job):
        return Disposition.DELETE
    if disposition is Disposition.RETRY:
        # Let the redelivery claim it at once instead of waiting for the lease to run out.
        await _release_lease(resources, job)
    return disposition


async def _release_lease(resources: Resources, job: jobs_repo.JobRow) -> None:
    try:
        async with resources.pool.acquire() as conn:
            await jobs_repo.release_lease(conn, job)
    except Exception as exc:  # the lease runs out by itself; the redelivery waits for it
        log.warning("lease_not_released", error=repr(exc))


async def _run(
    resources: Resources,
    handler: JobHandler,
    job: jobs_repo.JobRow,
    message: JobMessage,
    delivery: Delivery,
    max_run_s: float,
) -> Disposition:
    ctx = JobContext(resources, job, message, delivery.receives)
    try:
        return await _run_handler(ctx, handler, max_run_s)
    finally:
        ctx.finished.set()


async def _run_handler(ctx: JobContext, handler: JobHandler, max_run_s: float) -> Disposition:
    resources, job, receives = ctx.resources, ctx.job, ctx.receives
    # "running" goes out while the handler starts (a Redis round trip off a click's path); it is
    # out before any outcome is, since every outcome is stored after the run.
    announcing = asyncio.ensure_future(_publish_status(resources, job))
    log.info("job_started", attempt=job.attempts, receives=receives)
    started = time.monotonic()
    deadline = asyncio.timeout(max_run_s)
    try:
        async with deadline:
            try:
                outcome = await handler.run(ctx)
            finally:
                await announcing
        result: dict[str, Any] = msgspec.to_builtins(outcome)
    except JobFailed as exc:
        log.info("job_failed", code=exc.code, reason=exc.message)
        await _finish(resources, handler, job, "failed", error=(exc.code, exc.message))
        return Disposition.DELETE
    except JobCanceled:
        log.info("job_canceled")
        await _record_cancel(resources, handler, job)
        return Disposition.DELETE
    except Exception as exc:
        if deadline.expired():
            reason = f"the {job.type} job ran longer than its limit of {max_run_s:g} s"
            log.error("job_timed_out", max_run_s=max_run_s)
            await _finish(resources, handler, job, "failed", error=(TIMED_OUT, reason))
            await sweep_job_uploads(resources, job)
            return Disposition.DELETE
        if receives < resources.settings.worker_max_receives:
            log.warning("job_attempt_failed", receives=receives, exc_info=exc)
            return Disposition.RETRY
        log.error("job_failed_for_good", receives=receives, exc_info=exc)
        await _finish(
            resources, handler, job, "failed", error=(INTERNAL_ERROR, describe_error(exc))
        )
        return Disposition.DEAD_LETTER
    await _finish(resources, handler, job, "succeeded", result=result)
    log.info("job_succeeded", duration_s=round(time.monotonic() - started, 3))
    return Disposition.DELETE


async def _not_runnable(
    resources: Resources, handlers: Mapping[str, JobHandler], current: jobs_repo.JobRow | None
) -> Disposition | Defer:
    """What to do with the message of a job this delivery could not claim."""
    log.info("job_not_runnable", status=current.status if current else "missing")
    if current is None:
        return Disposition.DELETE  # deleted with its video
    if current.status == "running" and current.lease_expires_at is not None:
        left = (current.lease_expires_at - utcnow()).total_seconds()
        log.info("job_leased_elsewhere", attempt=current.attempts, lease_left_s=round(left, 1))
        # SQS takes at most 12 hours; the holder extends a lease by less than the visibility.
        return Defer(min(max(math.ceil(left) + 1, 1), 43200))
    if current.status == "canceled":
        await _record_cancel(resources, handlers.get(current.type), current)
        await sweep_job_uploads(resources, current)
    return Disposition.DELETE


async def fail_dead_lettered(
    resources: Resources, handler: JobHandler | None, job: jobs_repo.JobRow, receives: int
) -> bool:
    """Fail a job whose message reached the dead-letter queue without an outcome (its workers
    died or hung each time), as its handler's failure (a video leaves ``ingesting``, the quota
    it held is released); False when the job had an outcome meanwhile."""
    reason = (
        f"no worker finished the job: its message was delivered {receives} times without an "
        "outcome (the worker died or hung each time) and went to the dead-letter queue"
    )
    finished = await _finish(resources, handler, job, "failed", error=(DEAD_LETTERED, reason))
    if finished:
        log.error("job_dead_lettered", job_id=str(job.id), job_type=job.type, receives=receives)
        await sweep_job_uploads(resources, job)
    return finished


async def _finish(
    resources: Resources,
    handler: JobHandler | None,
    job: jobs_repo.JobRow,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: tuple[str, str] | None = None,
) -> bool:
    """Store the outcome and the handler's rows in one transaction, then announce it; False
    when the job had an outcome already (or was claimed again since ``job``'s claim)."""
    code, reason = error if error else (None, None)
    attempt = job.attempts if job.status == "running" else None
    async with resources.pool.acquire() as conn, conn.transaction():
        # A message the fast lane held back is withdrawn with it (``roto.jobs.lane``).
        row = await jobs_repo.finish_job(
            conn,
            job.id,
            status,
            result=result,
            error_code=code,
            error_message=reason,
            attempt=attempt,
            withdraw=True,
        )
        if row is None:
            # Finished by another delivery of the same message, or canceled while it ran.
            current = await jobs_repo.get_job(conn, job.id)
            log.info("job_already_finished", status=current.status if current else "missing")
            if current is None or current.status != "canceled":
                return False
            await _on_cancel(conn, handler, current)
            await jobs_repo.withdraw_outbox(conn, current.id)
            row = current
        elif handler is not None and status == "succeeded" and handler.on_success:
            await handler.on_success(conn, row, result or {})
        elif handler is not None and status == "failed" and handler.on_failure:
            await handler.on_failure(conn, row, code or INTERNAL_ERROR, reason or "")
        await billing.record_job_usage(conn, row)
    await _publish_status(resources, row)
    return row.status == status


async def _record_cancel(
    resources: Resources, handler: JobHandler | None, job: jobs_repo.JobRow
) -> None:
    async with resources.pool.acquire() as conn, conn.transaction():
        current = await jobs_repo.get_job(conn, job.id)
        if current is None or current.status != "canceled":
            return
        await _on_cancel(conn, handler, current)
        await billing.record_job_usage(conn, current)
    await _publish_status(resources, current)


async def _on_cancel(
    conn: asyncpg.Connection, handler: JobHandler | None, job: jobs_repo.JobRow
) -> None:
    if handler is not None and handler.on_failure:
        await handler.on_failure(conn, job, CANCELED_CODE, CANCELED_MESSAGE)


async def sweep_job_uploads(resources: Resources, job: jobs_repo.JobRow) -> None:
    """Abort the multipart uploads an earlier attempt of ``job`` left (a killed worker cannot
    abort its own); a job's uploads carry its id in their key. A failure is logged: it costs
    storage until the bucket's lifecycle rule, never a wrong answer."""
    if job.video_id is None:
        return
    s3, bucket = resources.s3, resources.settings.s3_bucket
    try:
        aborted = 0
        for prefix in video_prefixes(job.video_id):  # an export's archive is under its own
            aborted += await storage.abort_uploads(s3, bucket, prefix, f"/{job.id}/")
    except Exception as exc:
        log.warning("job_uploads_not_swept", error=repr(exc))
        return
    if aborted:
        log.info("job_uploads_swept", aborted=aborted)


async def sweep_if_video_deleted(resources: Resources, job: jobs_repo.JobRow) -> bool:
    """Once a job ends whose video was deleted while it ran (its row went with the video),
    delete what it wrote after the API's own sweep, so nothing it left is orphaned; True when
    the video is gone."""
    if job.video_id is None:
        return False
    if await videos_repo.video_exists(resources.pool, job.video_id):
        return False
    s3, bucket = resources.s3, resources.settings.s3_bucket
    try:
        deleted = 0
        for prefix in video_prefixes(job.video_id):
            await storage.abort_uploads(s3, bucket, prefix)
            deleted += await storage.delete_prefix(s3, bucket, prefix)
    except Exception as exc:
        log.warning("deleted_video_not_swept", video_id=str(job.video_id), error=repr(exc))
        return True
    log.info("deleted_video_swept", video_id=str(job.video_id), deleted=deleted)
    return True


async def _publish_status(resources: Resources, job: jobs_repo.JobRow) -> None:
    try:
        await events.publish_status(resources.redis, job.to_wire())
    except Exception as exc:  # Redis down loses a live event, never the job state
        log.warning("status_publish_failed", error=repr(exc))
