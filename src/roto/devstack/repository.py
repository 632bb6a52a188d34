"""SQL of the dev stack: its database, and the jobs whose queue messages a restart lost."""

from __future__ import annotations

import uuid

import asyncpg
import msgspec

SELECT_DATABASE_EXISTS = "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)"
# Only unfinished jobs without a pending outbox row: those have no message left anywhere.
SELECT_JOBS_WITHOUT_MESSAGE = """
SELECT id, type, request_id FROM jobs
WHERE status IN ('queued', 'running')
  AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.job_id = jobs.id)
ORDER BY created_at, id
"""
INSERT_OUTBOX = "INSERT INTO outbox (job_id, queue, body) VALUES ($1, $2, $3)"


class UnsentJob(msgspec.Struct, frozen=True):
    id: uuid.UUID
    type: str
    request_id: str | None


async def database_exists(conn: asyncpg.Connection, name: str) -> bool:
    exists: bool = await conn.fetchval(SELECT_DATABASE_EXISTS, name)
    return exists


async def create_database(conn: asyncpg.Connection, name: str) -> None:
    # CREATE DATABASE takes no parameters; the name is quoted as an identifier.
    quoted = '"' + name.replace('"', '""') + '"'
    await conn.execute(f"CREATE DATABASE {quoted}")


async def jobs_without_message(conn: asyncpg.Connection) -> list[UnsentJob]:
    return [
        msgspec.convert(dict(r), UnsentJob) for r in await conn.fetch(SELECT_JOBS_WITHOUT_MESSAGE)
    ]


# No worker runs while the stack starts: the leases of running jobs belong to dead workers.
END_LEASES = "UPDATE jobs SET lease_expires_at = now() WHERE status = 'running'"


async def end_leases(conn: asyncpg.Connection) -> None:
    await conn.execute(END_LEASES)


async def insert_outbox_rows(
    conn: asyncpg.Connection, rows: list[tuple[uuid.UUID, str, str]]
) -> None:
    """(job_id, queue, body) rows for the relay to send."""
    await conn.executemany(INSERT_OUTBOX, rows)
