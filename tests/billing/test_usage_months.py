"""The month's usage per user (``usage_months``): the running sum of the usage ledger that the quota
check and /v1/billing/usage read in place of summing the month's records on every click. Kept
by a trigger on the ledger, and filled from the ledger by its migration."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import pytest

from roto import db
from roto.billing import repository as repo
from roto.billing.service import period_start
from roto.settings import Settings
from tests.conftest import Services, as_admin
from tests.videos.helpers import connect

MIGRATION = "0013_usage_months"
THIS_MONTH = period_start()
LAST_MONTH = period_start(THIS_MONTH - timedelta(days=1))
#: (month, job type, frames, GPU seconds, counts toward the quota): clicks and propagations of
#: two months, and media jobs that are metered outside the quota. The seconds add up exactly in
#: binary floating point, in any order.
RECORDS = [
    (THIS_MONTH, "segment", 1, 0.25, True),
    (THIS_MONTH, "propagate", 120, 3.5, True),
    (THIS_MONTH, "ingest", 300, 0.0, False),
    (LAST_MONTH, "propagate", 40, 1.25, True),
    (LAST_MONTH, "export", 90, 0.0, False),
]


async def add_user(conn: asyncpg.Connection) -> uuid.UUID:
    user_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')",
        user_id,
        f"{user_id.hex}@example.com",
    )
    return user_id


async def add_records(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """``RECORDS`` written to the ledger as a job's finish writes them, each a few hours into
    its month."""
    for month, job_type, frames, gpu_seconds, counts in RECORDS:
        job_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO usage_records (job_id, user_id, job_type, frames, gpu_seconds, "
            "counts_toward_quota, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            job_id,
            user_id,
            job_type,
            frames,
            gpu_seconds,
            counts,
            month + timedelta(hours=5),
        )


async def months(conn: asyncpg.Connection, user_id: uuid.UUID) -> dict[datetime, tuple[int, float]]:
    rows = await conn.fetch(
        "SELECT month, frames, gpu_seconds FROM usage_months WHERE user_id = $1", user_id
    )
    return {r["month"]: (r["frames"], r["gpu_seconds"]) for r in rows}


async def ledger_sums(
    conn: asyncpg.Connection, user_id: uuid.UUID
) -> dict[datetime, tuple[int, float]]:
    """The ledger summed per month as the quota check summed it before ``usage_months``."""
    sums = {}
    for month in (LAST_MONTH, THIS_MONTH):
        row = await conn.fetchrow(
            "SELECT coalesce(sum(frames), 0) AS frames, coalesce(sum(gpu_seconds), 0) AS s "
            "FROM usage_records WHERE user_id = $1 AND counts_toward_quota "
            "AND recorded_at >= $2 AND recorded_at < $2 + interval '1 month'",
            user_id,
            month,
        )
        sums[month] = (row["frames"], row["s"])
    return sums


async def test_each_new_record_adds_to_its_month_once(settings: Settings) -> None:
    conn = await connect(settings)
    try:
        user_id = await add_user(conn)
        await add_records(conn, user_id)
        job_id = uuid.uuid4()
        for _ in range(2):  # a redelivered job's second record is ignored, and not added
            await repo.record_usage(conn, job_id, user_id, "segment", 1, 0.5)

        assert await months(conn, user_id) == {THIS_MONTH: (122, 4.25), LAST_MONTH: (40, 1.25)}
        assert await months(conn, user_id) == await ledger_sums(conn, user_id)
        assert await repo.month_usage(conn, user_id, THIS_MONTH) == repo.MonthUsage(122, 4.25)
        assert await repo.month_usage(conn, user_id, LAST_MONTH) == repo.MonthUsage(40, 1.25)
        state = await repo.quota_state(conn, user_id, THIS_MONTH)
        assert (state.plan, state.frames_used, state.frames_reserved) == ("free", 122, 0)

        stranger = await add_user(conn)
        assert await repo.month_usage(conn, stranger, THIS_MONTH) == repo.MonthUsage(0, 0.0)
        assert (await repo.quota_state(conn, stranger, THIS_MONTH)).frames_used == 0
    finally:
        await conn.close()


async def test_a_month_starts_at_midnight_utc_on_its_first_day(settings: Settings) -> None:
    """A record a second before the month turns goes to the month before, as ``period_start``
    draws the line, whatever the database session's time zone."""
    conn = await connect(settings)
    try:
        await conn.execute("SET TIME ZONE 'America/Los_Angeles'")
        user_id = await add_user(conn)
        for at in (THIS_MONTH - timedelta(seconds=1), THIS_MONTH):
            await conn.execute(
                "INSERT INTO usage_records (job_id, user_id, job_type, frames, gpu_seconds, "
                "recorded_at) VALUES ($1, $2, 'segment', 1, 0.1, $3)",
                uuid.uuid4(),
                user_id,
                at,
            )
        assert await months(conn, user_id) == {LAST_MONTH: (1, 0.1), THIS_MONTH: (1, 0.1)}
    finally:
        await conn.close()


async def test_a_deleted_user_takes_their_months_along(settings: Settings) -> None:
    conn = await connect(settings)
    try:
        user_id = await add_user(conn)
        await add_records(conn, user_id)
        await conn.execute("DELETE FROM users WHERE id = $1", user_id)
        assert await months(conn, user_id) == {}
    finally:
        await conn.close()


@pytest.fixture
async def database_before_months(services: Services) -> AsyncIterator[asyncpg.Connection]:
    """A database migrated up to the migration before ``usage_months``."""
    name = "t" + uuid.uuid4().hex[:12]
    await as_admin(services.postgres, f"CREATE DATABASE {name}")
    conn = await asyncpg.connect(services.postgres.dsn(name))
    try:
        for version, sql in db.migration_files():
            if version >= MIGRATION:
                break
            await conn.execute(sql)
        yield conn
    finally:
        await conn.close()
        await as_admin(services.postgres, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_the_migration_sums_the_ledger_so_far_and_then_keeps_counting(
    database_before_months: asyncpg.Connection,
) -> None:
    conn = database_before_months
    user_id = await add_user(conn)
    await add_records(conn, user_id)
    (sql,) = [sql for version, sql in db.migration_files() if version == MIGRATION]
    async with conn.transaction():
        await conn.execute(sql)

    assert await months(conn, user_id) == {THIS_MONTH: (121, 3.75), LAST_MONTH: (40, 1.25)}
    await repo.record_usage(conn, uuid.uuid4(), user_id, "segment", 1, 0.25)
    assert await months(conn, user_id) == await ledger_sums(conn, user_id)
    assert (await months(conn, user_id))[THIS_MONTH] == (122, 4.0)
