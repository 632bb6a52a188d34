"""The quota check against a long month: what every click's check costs once its user has N usage
records this month, read from ``usage_months`` (one row) against summing the month's records
(the check as it was before migration 0013, measured in the same run as the reference).

    .venv/bin/python bench/quota_history.py                       # the query, 0 to 50,000 records
    .venv/bin/python bench/quota_history.py --clicks 60 --records 50000   # and a cached click
    .venv/bin/python bench/quota_history.py --clicks 60 --tree ../before  # an earlier checkout

Every click and every propagation writes one usage record when it finishes, so a busy artist's
month holds tens of thousands. The query part runs on a PostgreSQL of its own (p50 of
``--samples`` calls at each size). With ``--clicks``, a dev stack is started as
``bench/click_latency.py`` starts it (its code from ``--tree`` when given: ``git worktree add
../before <commit>``), and a cached click's p50 is measured before and after its user is given
``--records`` records of this month. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import click_latency  # bench/, beside this script
import httpx

from roto import db
from roto.billing import repository as billing_repo
from roto.billing.service import period_start
from roto.devstack.services import Postgres

SIZES = (0, 1_000, 10_000, 50_000)
#: The month's frames as the quota check summed them before ``usage_months``.
LEDGER_SUM = """
SELECT coalesce(sum(frames), 0)::bigint FROM usage_records
WHERE user_id = $1 AND recorded_at >= $2 AND counts_toward_quota
"""
FILL = """
INSERT INTO usage_records (job_id, user_id, job_type, frames, gpu_seconds, recorded_at)
SELECT gen_random_uuid(), $1, 'segment', 1, 0.02, month + random() * (now() - month)
FROM generate_series(1, $3), (SELECT $2::timestamptz AS month) AS start
"""


async def add_records(conn: asyncpg.Connection, user_id: uuid.UUID, count: int) -> None:
    """``count`` click records of this month for the user, then the tables vacuumed and
    analysed as autovacuum would leave them over a month, and a checkpoint (so its writes do
    not land on the clicks measured next). A tree from before migration 0013 has no
    usage_months."""
    if count > 0:
        await conn.execute(FILL, user_id, period_start(), count)
    for table in ("usage_records", "usage_months"):
        if await conn.fetchval("SELECT to_regclass($1)", table) is not None:
            await conn.execute(f"VACUUM ANALYZE {table}")
    await conn.execute("CHECKPOINT")


async def p50_ms(call: Callable[[], Awaitable[Any]], samples: int) -> float:
    for _ in range(3):
        await call()
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        await call()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


async def queries(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="roto-bench-") as folder:
        postgres = Postgres.start(Path(folder) / "pg")
        try:
            await db.migrate_dsn(postgres.dsn())
            conn = await asyncpg.connect(postgres.dsn())
            try:
                user_id = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO users (id, email, password_hash) VALUES ($1, 'b@example.com', '')",
                    user_id,
                )
                month = period_start()
                print(f"the quota check's query, p50 of {args.samples} calls (ms):")
                head = f"{'records':>8}  {'summing them (before)':>21}  {'quota_state':>11}"
                print(f"  {head}  ratio")
                held = 0
                for size in SIZES:
                    await add_records(conn, user_id, size - held)
                    held = size
                    ledger = await p50_ms(
                        lambda: conn.fetchval(LEDGER_SUM, user_id, month), args.samples
                    )
                    now = await p50_ms(
                        lambda: billing_repo.quota_state(conn, user_id, month), args.samples
                    )
                    print(f"  {size:>8}  {ledger:>21.2f}  {now:>11.2f}  {ledger / now:5.1f}x")
            finally:
                await conn.close()
        finally:
            postgres.stop()


def clicks(args: argparse.Namespace) -> None:
    """A cached click's p50 on a fresh dev stack, before and after its user's records."""
    stack_args = argparse.Namespace(image_size=256, model_size="tiny", no_lane=False)
    with tempfile.TemporaryDirectory(prefix="roto-bench-") as folder:
        data_dir = Path(folder)
        click_latency.make_clip(data_dir / "clip.mp4", 4, 640, 360)
        proc, api = click_latency.start_stack(data_dir, stack_args, args.tree)
        try:
            with httpx.Client(base_url=api, timeout=60) as http:
                click_latency.wait_for_daemon(http, proc)
                video_id = click_latency.prepare_video(http, data_dir / "clip.mp4")
                http.post(f"/v1/videos/{video_id}/objects", json={}).raise_for_status()
                cx, cy, _ = click_latency.disc(1, 640, 360)

                def p50() -> float:
                    took = [
                        click_latency.click(http, video_id, 1, (cx + i % 30, cy))["total"]
                        for i in range(args.clicks)
                    ]
                    return statistics.median(took) * 1000

                p50()  # the frame's embedding cached, the pools warm
                before = p50()
                dsn = json.loads((data_dir / "devstack.json").read_text())["database_url"]
                asyncio.run(give_records(dsn, video_id, args.records))
                p50()  # PostgreSQL's caches warm again after the bulk insert
                after = p50()
        finally:
            proc.terminate()
            proc.wait(timeout=90)
    where = f" (the stack from {args.tree})" if args.tree else ""
    print(f"a cached click{where}, p50 of {args.clicks} (ms): {before:.1f} with few records,")
    print(f"  {after:.1f} with {args.records} more ({after - before:+.1f} ms)")


async def give_records(dsn: str, video_id: str, count: int) -> None:
    """``count`` records for the owner of the clicked video, on the plan with room for them."""
    conn = await asyncpg.connect(dsn)
    try:
        user_id = await conn.fetchval(
            "SELECT user_id FROM videos WHERE id = $1", uuid.UUID(video_id)
        )
        await conn.execute("UPDATE users SET plan = 'pro' WHERE id = $1", user_id)
        await add_records(conn, user_id, count)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=50, help="calls per size")
    parser.add_argument("--clicks", type=int, default=0, help="cached clicks per side (0: none)")
    parser.add_argument("--records", type=int, default=50_000, help="records added for --clicks")
    parser.add_argument("--tree", type=Path, help="run the stack's code from this checkout")
    args = parser.parse_args()
    asyncio.run(queries(args))
    if args.clicks:
        clicks(args)


if __name__ == "__main__":
    main()
