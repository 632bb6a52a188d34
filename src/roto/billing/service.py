"""Use cases of billing: the month's usage, the frame quota that jobs are checked against, and
the usage a finished GPU job records."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import msgspec
import structlog

from roto.billing import repository as repo
from roto.billing import stripe
from roto.billing.schemas import BillingUsage, WebhookAck
from roto.errors import PaymentRequired, ServiceUnavailable, Unauthorized
from roto.jobs.repository import JobRow
from roto.resources import Resources
from roto.timefmt import rfc3339, utcnow

log = structlog.get_logger(__name__)

#: Frames a plan may process per calendar month (UTC).
FRAME_QUOTAS: dict[str, int] = {"free": 20_000, "pro": 500_000}
DEFAULT_PLAN = "free"
#: Job types that run on the GPU daemon and so count against the quota.
GPU_JOB_TYPES = frozenset({"segment", "detect", "propagate"})
#: Job types of the media worker: metered, but not against the frame quota.
MEDIA_JOB_TYPES = frozenset({"ingest", "export"})


def frame_quota(plan: str) -> int:
    return FRAME_QUOTAS.get(plan, FRAME_QUOTAS[DEFAULT_PLAN])


def period_start(now: datetime | None = None) -> datetime:
    """The first instant of the current calendar month in UTC."""
    now = (now or utcnow()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def usage(resources: Resources, user_id: uuid.UUID) -> BillingUsage:
    """The caller's usage this month."""
    async with resources.pool.acquire() as conn:
        plan = await repo.get_plan(conn, user_id)
        if plan is None:
            raise Unauthorized("the account no longer exists")
        return await usage_on_plan(conn, user_id, plan)


async def usage_on_plan(conn: asyncpg.Connection, user_id: uuid.UUID, plan: str) -> BillingUsage:
    """The month's usage of a user whose plan the caller has already read."""
    start = period_start()
    used = await repo.month_usage(conn, user_id, start)
    return BillingUsage(
        period_start=rfc3339(start) or "",
        frames_processed=used.frames,
        gpu_seconds=round(used.gpu_seconds, 3),
        frames_quota=frame_quota(plan),
    )


async def check_quota(conn: asyncpg.Connection, user_id: uuid.UUID, frames: int) -> None:
    """402 when a job of up to ``frames`` frames would take the user past the month's quota.

    Frames already used this month count, and so do those that the user's queued and running
    GPU jobs may still use, so a burst of jobs cannot together pass the quota. Call it in the
    transaction that creates the job: the user's quota lock is held until it ends, so jobs
    submitted at once are checked one after another.
    """
    await repo.lock_user_quota(conn, user_id)
    state = await repo.quota_state(conn, user_id, period_start())
    plan = state.plan or DEFAULT_PLAN
    used, reserved = state.frames_used, state.frames_reserved
    quota = frame_quota(plan)
    if used + reserved + frames > quota:
        left = max(quota - used - reserved, 0)
        held = f", {reserved} more are held by queued or running jobs" if reserved else ""
        raise PaymentRequired(
            f"frame quota: this job needs up to {frames} frames, {left} of the {plan} plan's "
            f"{quota} frames are left this month{held}",
            errors=[{"key": "frames", "message": f"{frames} needed, {left} left"}],
        )


class JobUsage(msgspec.Struct, frozen=True):
    """What one finished job used: GPU jobs count against the frame quota, media jobs are
    metered (frames decoded or written, worker seconds) without counting against it."""

    frames: int
    gpu_seconds: float = 0.0
    worker_seconds: float = 0.0
    counts_toward_quota: bool = True


def job_usage(job: JobRow) -> JobUsage | None:
    """What a finished job used; None for jobs that are not metered (or never started)."""
    if job.started_at is None or job.finished_at is None:
        return None
    seconds = max((job.finished_at - job.started_at).total_seconds(), 0.0)
    if job.type in MEDIA_JOB_TYPES:
        # Ingest: the frames decoded and stored; export: the frames written (its progress).
        return JobUsage(job.progress_done, worker_seconds=seconds, counts_toward_quota=False)
    if job.type not in GPU_JOB_TYPES:
        return None
    if job.type in ("segment", "detect"):
        frames = 1 if job.status == "succeeded" else 0
    elif job.status == "succeeded" and job.result is not None:
        frames = int(job.result.get("frames_processed", job.progress_done))
    else:
        frames = job.progress_done  # a canceled or failed propagation keeps what it did
    return JobUsage(frames, gpu_seconds=seconds)


async def record_job_usage(conn: asyncpg.Connection, job: JobRow) -> None:
    """Record what a finished job used, in the transaction that finishes it (once per job)."""
    used = job_usage(job)
    if used is not None:
        await repo.record_usage(
            conn,
            job.id,
            job.user_id,
            job.type,
            used.frames,
            used.gpu_seconds,
            worker_seconds=used.worker_seconds,
            counts_toward_quota=used.counts_toward_quota,
        )


async def handle_stripe_webhook(
    resources: Resources, header: str | None, payload: bytes
) -> WebhookAck:
    """Apply a signed Stripe event once: a completed checkout sets the plan it bought, an ended
    subscription sets the plan back to free; other events are acknowledged and ignored."""
    pool, settings = resources.pool, resources.settings
    if not settings.stripe_webhook_secret:
        raise ServiceUnavailable("Stripe webhooks are not configured (ROTO_STRIPE_WEBHOOK_SECRET)")
    event = stripe.verify(
        settings.stripe_webhook_secret, header, payload, settings.stripe_webhook_tolerance_s
    )
    async with pool.acquire() as conn, conn.transaction():
        if not await repo.claim_stripe_event(conn, event.id, event.type):
            return WebhookAck(received=True, handled=False)
        handled = await _apply(conn, event)
    log.info("stripe_event", event_id=event.id, type=event.type, handled=handled)
    return WebhookAck(received=True, handled=handled)


async def _apply(conn: asyncpg.Connection, event: stripe.StripeEvent) -> bool:
    if event.type == stripe.CHECKOUT_COMPLETED:
        bought = stripe.checkout_plan(event)
        if bought is None or bought[1] not in FRAME_QUOTAS:
            log.warning("stripe_checkout_unusable", event_id=event.id)
            return False
        user_id, plan, customer = bought
        return await repo.set_plan(conn, user_id, plan, customer)
    if event.type == stripe.SUBSCRIPTION_DELETED:
        customer = stripe.ended_customer(event)
        return customer is not None and await repo.set_plan_of_customer(
            conn, customer, DEFAULT_PLAN
        )
    return False
