"""The pool's release without asyncpg's reset query (``roto.db.create_pool``): what it rests on
holds in the sources, and a transaction left open still ends at release. The outbox's job
index serves the withdrawal every finished job makes."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from roto.jobs.repository import FINISH_JOB_AND_WITHDRAW, WITHDRAW_OUTBOX
from roto.resources import Resources

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*(ROOT / "src").rglob("*.py"), *(ROOT / "gpu").rglob("*.py")]

#: What would outlive a transaction on a pooled connection, which nothing resets any more.
SESSION_STATE = {
    "a session advisory lock": re.compile(r"pg_(try_)?advisory_lock(_shared)?\s*\("),
    "LISTEN": re.compile(r"\bLISTEN\b|add_listener\("),
    "a session SET": re.compile(r"""["']\s*SET\s+(?!LOCAL\b)(SESSION\s+)?\w+\s*(=|TO\b)""", re.I),
    "set_config outside a transaction": re.compile(r"set_config\([^)]*false", re.I),
    "a cursor WITH HOLD": re.compile(r"WITH\s+HOLD", re.I),
}
#: The migration's lock is a session lock on a connection of its own (``migrate_dsn``).
ALLOWED = {("src/roto/db.py", "a session advisory lock")}


def session_state_in(text: str) -> list[str]:
    return [name for name, pattern in SESSION_STATE.items() if pattern.search(text)]


def test_no_source_leaves_session_state_on_a_pooled_connection() -> None:
    found = {
        (str(path.relative_to(ROOT)), name)
        for path in SOURCES
        for name in session_state_in(path.read_text())
    }
    assert found - ALLOWED == set()


def test_the_check_finds_each_kind_of_session_state() -> None:
    assert session_state_in('await conn.execute("SET statement_timeout = 0")') == ["a session SET"]
    assert session_state_in("await conn.execute('SET search_path TO x')") == ["a session SET"]
    assert session_state_in('"SELECT pg_advisory_lock($1)"') == ["a session advisory lock"]
    assert session_state_in('"LISTEN jobs"') == ["LISTEN"]
    assert session_state_in("SELECT set_config('x', '1', false)") == [
        "set_config outside a transaction"
    ]
    assert session_state_in('"DECLARE c CURSOR WITH HOLD FOR SELECT 1"') == ["a cursor WITH HOLD"]
    # Transaction-scoped forms, and an UPDATE's SET, are fine.
    assert session_state_in('"SET LOCAL statement_timeout = 0"') == []
    assert session_state_in('"SELECT pg_advisory_xact_lock($1)"') == []
    assert session_state_in('"UPDATE jobs SET status = $2 WHERE id = $1"') == []


async def test_a_transaction_left_open_is_rolled_back_at_release(resources: Resources) -> None:
    pool = resources.pool
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS release_probe (n int)")
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO release_probe VALUES (1)")
        assert conn.is_in_transaction()
    # Every connection of the pool, so the one used above is among them.
    held = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        for conn in held:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM release_probe") == 0
    finally:
        for conn in held:
            await pool.release(conn)


@pytest.mark.parametrize(
    ("statement", "arguments"),
    [
        (WITHDRAW_OUTBOX, ()),
        (FINISH_JOB_AND_WITHDRAW, ("succeeded", None, None, None, None)),
    ],
    ids=["withdraw", "finish-and-withdraw"],
)
async def test_a_finished_jobs_withdrawal_finds_its_messages_by_index(
    resources: Resources, statement: str, arguments: tuple[object, ...]
) -> None:
    """Every finished job withdraws its held message: by ``outbox_job_idx``, not by a scan of
    the whole outbox (which grows while SQS is away)."""
    async with resources.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")  # as on a table too big to scan
        plan = await conn.fetch("EXPLAIN " + statement, uuid.uuid4(), *arguments)
    assert "outbox_job_idx" in "\n".join(row[0] for row in plan)
