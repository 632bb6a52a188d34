"""Provisioning of the local servers: database, schema, bucket, queues, and requeued jobs."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec
import pytest

from roto import db
from roto.devstack.provision import provision, requeue_unfinished_jobs
from roto.jobs.contracts import JobMessage, decode_message
from roto.jobs.outbox import create_job
from roto.settings import Settings
from tests.conftest import Services, as_admin

INSERT_USER = "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')"
SET_STATUS = "UPDATE jobs SET status = $2 WHERE id = $1"
SELECT_OUTBOX = "SELECT job_id, queue, body FROM outbox ORDER BY id"
SENT = "DELETE FROM outbox WHERE job_id = $1"  # as the relay does once SQS has the message


async def add_job(
    conn: asyncpg.Connection, user_id: uuid.UUID, job_type: str, status: str
) -> uuid.UUID:
    """A job row with no outbox row, as after its message was sent (and lost with the queue)."""
    async with conn.transaction():
        job = await create_job(conn, user_id=user_id, video_id=None, job_type=job_type)
        await conn.execute(SENT, job.id)
        await conn.execute(SET_STATUS, job.id, status)
    return job.id


async def test_requeue_sends_again_only_unfinished_jobs_that_have_no_message(
    settings: Settings,
) -> None:
    pool = await db.create_pool(settings.database_url, max_size=1)
    try:
        conn = await pool.acquire()
        user_id = uuid.uuid4()
        await conn.execute(INSERT_USER, user_id, f"{user_id}@example.com")
        queued = await add_job(conn, user_id, "ingest", "queued")
        running = await add_job(conn, user_id, "propagate", "running")
        for finished in ("succeeded", "failed", "canceled"):
            await add_job(conn, user_id, "export", finished)
        async with conn.transaction():
            pending = await create_job(conn, user_id=user_id, video_id=None, job_type="segment")

        assert await requeue_unfinished_jobs(settings.database_url) == 2
        assert await requeue_unfinished_jobs(settings.database_url) == 0

        rows = await conn.fetch(SELECT_OUTBOX)
        await pool.release(conn)
    finally:
        await pool.close()
    by_job = {row["job_id"]: row for row in rows}
    assert set(by_job) == {pending.id, queued, running}
    assert by_job[queued]["queue"] == "media"
    assert by_job[running]["queue"] == "batch"
    assert decode_message(by_job[running]["body"]) == JobMessage(
        job_id=str(running), type="propagate"
    )


async def test_provision_creates_the_database_once_and_migrates_it(
    settings: Settings, services: Services, sqs_sync: Any
) -> None:
    name = "d" + uuid.uuid4().hex[:12]
    target = msgspec.structs.replace(settings, database_url=services.postgres.dsn(name))
    try:
        first = await provision(target, services.postgres.dsn(), name)
        again = await provision(target, services.postgres.dsn(), name)
        conn = await asyncpg.connect(target.database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM jobs") == 0
        finally:
            await conn.close()
    finally:
        await as_admin(services.postgres, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    assert first.created_database and first.migrations
    assert not again.created_database and again.migrations == []
    dlq_url = sqs_sync.get_queue_url(QueueName=settings.queue_media + "-dlq")["QueueUrl"]
    assert dlq_url.endswith(settings.queue_media + "-dlq")


@pytest.mark.parametrize("name", ['we"ird', "Upper Case"])
async def test_database_names_are_quoted(settings: Settings, services: Services, name: str) -> None:
    from roto.devstack import repository

    admin = await asyncpg.connect(services.postgres.dsn())
    try:
        await repository.create_database(admin, name)
        assert await repository.database_exists(admin, name)
    finally:
        await admin.execute("DROP DATABASE IF EXISTS " + '"' + name.replace('"', '""') + '"')
        await admin.close()
