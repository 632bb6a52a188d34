"""Makes fresh or restarted local servers ready for the app: database, schema, bucket, queues,
and queue messages for the jobs a restart interrupted."""

from __future__ import annotations

from contextlib import AsyncExitStack

import asyncpg
import msgspec

from roto import aws, db
from roto.devstack import repository as repo
from roto.jobs.contracts import JOB_QUEUES, JobMessage, encode_message
from roto.settings import Settings


class Provisioned(msgspec.Struct, frozen=True):
    """What provisioning did, for the stack's log."""

    created_database: bool
    migrations: list[str]
    requeued: int


async def provision(settings: Settings, admin_dsn: str, database: str) -> Provisioned:
    """Create the database if missing, migrate it, requeue unfinished jobs, and create the bucket
    and queues of ``settings`` (whose URLs point at the local servers)."""
    created = await _ensure_database(admin_dsn, database)
    applied = await db.migrate_dsn(settings.database_url)
    requeued = await requeue_unfinished_jobs(settings.database_url)
    async with AsyncExitStack() as stack:
        s3, sqs = await aws.open_clients(settings, stack)
        await aws.ensure_bucket(s3, settings)
        await aws.ensure_queues(sqs, settings)
    return Provisioned(created_database=created, migrations=applied, requeued=requeued)


async def requeue_unfinished_jobs(dsn: str) -> int:
    """Write outbox rows for queued and running jobs: the local queues start empty after a
    restart, and workers handle a job id idempotently, so sending again is safe. The leases of
    running jobs end now (their workers died with the last stack), so they are claimed at once."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            jobs = await repo.jobs_without_message(conn)
            rows = [
                (
                    job.id,
                    JOB_QUEUES[job.type],
                    encode_message(
                        JobMessage(job_id=str(job.id), type=job.type, request_id=job.request_id)
                    ),
                )
                for job in jobs
            ]
            await repo.insert_outbox_rows(conn, rows)
            await repo.end_leases(conn)
    finally:
        await conn.close()
    return len(rows)


async def _ensure_database(admin_dsn: str, name: str) -> bool:
    conn: asyncpg.Connection = await asyncpg.connect(admin_dsn)
    try:
        if await repo.database_exists(conn, name):
            return False
        await repo.create_database(conn, name)
        return True
    finally:
        await conn.close()
