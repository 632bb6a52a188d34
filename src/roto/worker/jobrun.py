"""One run of one job: claim the row, run the role's handler, store the outcome, and say what
should happen to the message."""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
import msgspec
import structlog

from roto.billing import service as billing
from roto.jobs import events
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import JobMessage
from roto.resources import Resources
from roto.worker.context import JobCanceled, JobContext, JobFailed
from roto.worker.contract import JobHandler
from roto.worker.receiver import Delivery

log = structlog.get_logger(__name__)

CANCELED_CODE = "canceled"
CANCELED_MESSAGE = "the job was canceled"
INTERNAL_ERROR = "internal_error"


class Disposition(enum.Enum):
    """What happens to a message once its job has run."""

    DELETE = "delete"  # the outcome is stored, or there was nothing to do
    RETRY = "retry"  # an unexpected error: SQS redelivers it after a short backoff
    DEAD_LETTER = "dead_letter"  # failed on its last allowed receive: on to the DLQ at once


def describe_error(exc: BaseException) -> str:
    """The reason stored on a job that failed unexpectedly."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:1000] if text else type(exc).__name__


async def run_job(
    resources: Resources,
    role_name: str,
    handlers: Mapping[str, JobHandler],
    job_id: uuid.UUID,
    message: JobMessage,
    delivery: Delivery,
) -> Disposition:
    """Run the job once. A finished or canceled job is not run again (delivery is
    at-least-once); a job left ``running`` by a dead worker is run again from the start."""
    async with resources.pool.acquire() as conn:
        job = await jobs_repo.claim_job(conn, job_id)
        current = None if job is not None else await jobs_repo.get_job(conn, job_id)
    if job is None:
        log.info("job_not_runnable", status=current.status if current else "missing")
        if current is not None and current.status == "canceled":
            await _record_cancel(resources, handlers.get(current.type), current)
        return Disposition.DELETE

    handler = handlers.get(job.type)
    if handler is None:
        reason = f"the {role_name} worker does not run {job.type} jobs"
        log.error("unsupported_job_type", queue=delivery.queue)
        await _finish(resources, None, job, "failed", error=("unsupported_job_type", reason))
        return Disposition.DELETE

    await _publish_status(resources, job)
    log.info("job_started", attempt=job.attempts, receives=delivery.receives)
    started = time.monotonic()
    try:
        outcome = await handler.run(JobContext(resources, job, message, delivery.receives))
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
        if delivery.receives < resources.settings.worker_max_receives:
            log.warning("job_attempt_failed", receives=delivery.receives, exc_info=exc)
            return Disposition.RETRY
        log.error("job_failed_for_good", receives=delivery.receives, exc_info=exc)
        await _finish(
            resources, handler, job, "failed", error=(INTERNAL_ERROR, describe_error(exc))
        )
        return Disposition.DEAD_LETTER
    await _finish(resources, handler, job, "succeeded", result=result)
    log.info("job_succeeded", duration_s=round(time.monotonic() - started, 3))
    return Disposition.DELETE


async def _finish(
    resources: Resources,
    handler: JobHandler | None,
    job: jobs_repo.JobRow,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: tuple[str, str] | None = None,
) -> None:
    """Store the outcome and the handler's rows in one transaction, then announce it."""
    code, reason = error if error else (None, None)
    async with resources.pool.acquire() as conn, conn.transaction():
        row = await jobs_repo.finish_job(
            conn, job.id, status, result=result, error_code=code, error_message=reason
        )
        if row is None:
            # Finished by another delivery of the same message, or canceled while it ran.
            current = await jobs_repo.get_job(conn, job.id)
            log.info("job_already_finished", status=current.status if current else "missing")
            if current is None or current.status != "canceled":
                return
            await _on_cancel(conn, handler, current)
            row = current
        elif handler is not None and status == "succeeded" and handler.on_success:
            await handler.on_success(conn, row, result or {})
        elif handler is not None and status == "failed" and handler.on_failure:
            await handler.on_failure(conn, row, code or INTERNAL_ERROR, reason or "")
        await billing.record_job_usage(conn, row)
    await _publish_status(resources, row)


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


async def _publish_status(resources: Resources, job: jobs_repo.JobRow) -> None:
    try:
        await events.publish_status(resources.redis, job.to_wire())
    except Exception as exc:  # Redis down loses a live event, never the job state
        log.warning("status_publish_failed", error=repr(exc))
