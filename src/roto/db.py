"""PostgreSQL: the connection pool and the migration runner."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)

# Arbitrary constant shared by every process that migrates this database.
MIGRATION_LOCK_ID = 0x526F746F  # "Roto"

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
SELECT_APPLIED = "SELECT version FROM schema_migrations"
INSERT_APPLIED = "INSERT INTO schema_migrations (version) VALUES ($1)"


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset: pooled connections never hold session state (see ``create_pool``)."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections decode jsonb to Python values.

    A connection going back to the pool is not reset with asyncpg's default query (advisory
    unlock, CLOSE ALL, UNLISTEN, RESET ALL): that is a round trip on every release, on a click's
    path six times. Nothing here leaves session state on a pooled connection: advisory locks are
    transaction-scoped (``pg_advisory_xact_lock``), nothing listens, sets session variables or
    keeps a holdable cursor (the migration's session lock runs on a connection of its own,
    ``migrate_dsn``); ``tests/test_db.py`` checks the sources for them. asyncpg still rolls
    back a transaction left open on release.
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=60,
    )
    assert pool is not None
    return pool


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) for every migration shipped in ``roto/migrations``, in order."""
    folder = resources.files("roto") / "migrations"
    files = sorted(
        (f.name, f.read_text("utf-8")) for f in folder.iterdir() if f.name.endswith(".sql")
    )
    return [(name.removesuffix(".sql"), sql) for name, sql in files]


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations under an advisory lock; returns the versions applied."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(CREATE_MIGRATIONS_TABLE)
        done = {r["version"] for r in await conn.fetch(SELECT_APPLIED)}
        for version, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(INSERT_APPLIED, version)
            log.info("migration_applied", version=version)
            applied_now.append(version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied_now


async def migrate_dsn(dsn: str) -> list[str]:
    """Connect, migrate, disconnect."""
    conn: Any = await asyncpg.connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
