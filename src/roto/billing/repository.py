"""SQL of billing: usage records, the month's totals, plans and Stripe events."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import msgspec


class MonthUsage(msgspec.Struct, frozen=True):
    frames: int
    gpu_seconds: float


class QuotaState(msgspec.Struct, frozen=True):
    plan: str | None  # None: no such user
    frames_used: int
    frames_reserved: int


# A record that is new adds itself to its month in usage_months (a trigger, migration 0013).
INSERT_USAGE = """
INSERT INTO usage_records
    (job_id, user_id, job_type, frames, gpu_seconds, worker_seconds, counts_toward_quota)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (job_id) DO NOTHING
"""
# The month's frames and GPU seconds: the GPU jobs' (media jobs' rows are metering only), as
# usage_months sums them (a trigger adds each record, migration 0013); $2 is the month's first
# instant in UTC.
SELECT_MONTH_USAGE = """
SELECT frames, gpu_seconds FROM usage_months WHERE user_id = $1 AND month = $2
"""
# What a quota check needs, in one round trip on the click's path: the plan, the frames used in
# the month that starts at $2 (one row of usage_months), and the frames that unfinished GPU
# jobs may still record (a click or a detection one, a propagation up to its whole range: its
# usage is recorded only when it finishes).
SELECT_QUOTA_STATE = """
SELECT
    (SELECT plan FROM users WHERE id = $1) AS plan,
    coalesce((SELECT frames FROM usage_months WHERE user_id = $1 AND month = $2), 0)
        AS frames_used,
    (SELECT coalesce(sum(CASE WHEN type IN ('segment', 'detect') THEN 1 ELSE progress_total END),
                     0)::bigint
     FROM jobs
     WHERE user_id = $1 AND status IN ('queued', 'running')
       AND type IN ('segment', 'detect', 'propagate')) AS frames_reserved
"""
SELECT_PLAN = "SELECT plan FROM users WHERE id = $1"
# Serialises one user's quota checks until the transaction ends, so two jobs submitted at once
# cannot both fit in the last frames of the quota.
LOCK_USER_QUOTA = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
INSERT_STRIPE_EVENT = """
INSERT INTO stripe_events (id, type) VALUES ($1, $2)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""
SET_PLAN_BY_ID = """
UPDATE users SET plan = $2, stripe_customer_id = coalesce($3, stripe_customer_id)
WHERE id = $1
"""
SET_PLAN_BY_CUSTOMER = "UPDATE users SET plan = $2 WHERE stripe_customer_id = $1"


async def record_usage(
    conn: asyncpg.Connection,
    job_id: uuid.UUID,
    user_id: uuid.UUID,
    job_type: str,
    frames: int,
    gpu_seconds: float,
    *,
    worker_seconds: float = 0.0,
    counts_toward_quota: bool = True,
) -> None:
    """Record a finished job's usage once; a second record of the same job is ignored."""
    await conn.execute(
        INSERT_USAGE,
        job_id,
        user_id,
        job_type,
        frames,
        gpu_seconds,
        worker_seconds,
        counts_toward_quota,
    )


async def month_usage(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID, month: datetime
) -> MonthUsage:
    """What the user's GPU jobs used in the month that starts at ``month`` (UTC)."""
    record = await conn.fetchrow(SELECT_MONTH_USAGE, user_id, month)
    if record is None:
        return MonthUsage(frames=0, gpu_seconds=0.0)
    return MonthUsage(frames=int(record["frames"]), gpu_seconds=float(record["gpu_seconds"]))


async def quota_state(conn: asyncpg.Connection, user_id: uuid.UUID, month: datetime) -> QuotaState:
    """The user's plan, the frames used in the month that starts at ``month`` (UTC), and those
    that unfinished GPU jobs hold."""
    record = await conn.fetchrow(SELECT_QUOTA_STATE, user_id, month)
    return QuotaState(
        plan=record["plan"],
        frames_used=int(record["frames_used"]),
        frames_reserved=int(record["frames_reserved"]),
    )


async def get_plan(conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID) -> str | None:
    plan: str | None = await conn.fetchval(SELECT_PLAN, user_id)
    return plan


async def lock_user_quota(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Hold the user's quota lock for the rest of ``conn``'s transaction."""
    await conn.execute(LOCK_USER_QUOTA, f"quota:{user_id}")


async def claim_stripe_event(conn: asyncpg.Connection, event_id: str, event_type: str) -> bool:
    """Note the event as seen; False if it was seen before."""
    return await conn.fetchval(INSERT_STRIPE_EVENT, event_id, event_type) is not None


async def set_plan(
    conn: asyncpg.Connection, user_id: uuid.UUID, plan: str, customer_id: str | None
) -> bool:
    status: str = await conn.execute(SET_PLAN_BY_ID, user_id, plan, customer_id)
    return status.endswith(" 1")


async def set_plan_of_customer(conn: asyncpg.Connection, customer_id: str, plan: str) -> bool:
    status: str = await conn.execute(SET_PLAN_BY_CUSTOMER, customer_id, plan)
    return status.endswith(" 1")
