"""Outbox relay throughput: how fast a burst of queued jobs reaches SQS, the relay as it is
(``relay_pass``: SendMessageBatch of 10, each queue's calls at once) against the relay as it was
before batching (one SendMessage per job, in order), measured in the same run.

    .venv/bin/python bench/outbox.py --jobs 1000 --rtt-ms 0,10

Starts PostgreSQL and moto's SQS (as the tests do), writes ``--jobs`` jobs with their outbox rows
(60 % clicks to the interactive queue, 20 % propagations to batch, 20 % exports to media), then
drains the outbox with one relay and then the other, counting the messages that arrive. Then it
queues one click behind ``--jobs`` propagations and times how long the click waits. moto
answers on loopback in about a millisecond, where SQS in AWS takes a network round trip per call,
so each run also adds ``--rtt-ms`` of delay before every SQS call. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from bench_services import bench_settings, local_services  # bench/, beside this script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from roto import aws, db  # noqa: E402
from roto.jobs import outbox  # noqa: E402
from roto.jobs import repository as repo  # noqa: E402
from roto.settings import Settings  # noqa: E402

#: (job type, share of the burst); the type decides the queue.
MIX = (("segment", 0.6), ("propagate", 0.2), ("export", 0.2))

Relay = Callable[[asyncpg.Pool, Any, dict[str, str]], Awaitable[int]]


# The relay before batching took the oldest due rows of all queues together.
FIFO_DUE_OUTBOX = """
SELECT id, job_id, queue, body, attempts FROM outbox
WHERE available_at <= now()
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""


async def one_by_one(pool: asyncpg.Pool, sqs: Any, queue_urls: dict[str, str]) -> int:
    """The reference: the relay before batching. One FIFO over all queues, and each due row is
    one SendMessage, in order."""
    async with pool.acquire() as conn, conn.transaction():
        rows = [
            msgspec.convert(dict(r), repo.OutboxRow)
            for r in await conn.fetch(FIFO_DUE_OUTBOX, outbox.RELAY_BATCH)
        ]
        for row in rows:
            await sqs.send_message(QueueUrl=queue_urls[row.queue], MessageBody=row.body)
        await repo.delete_outbox_rows(conn, [row.id for row in rows])
    return len(rows)


async def batched(pool: asyncpg.Pool, sqs: Any, queue_urls: dict[str, str]) -> int:
    """Ours: the relay the API runs."""
    return (await outbox.relay_pass(pool, sqs, queue_urls)).taken


def mixed(jobs: int) -> list[str]:
    """Job types of a burst of ``jobs`` in the MIX proportions."""
    return [t for t, share in MIX for _ in range(round(jobs * share))][:jobs]


async def fill(pool: asyncpg.Pool, user_id: uuid.UUID, types: list[str]) -> None:
    """Queued jobs of these types, in this order, with their outbox rows."""
    async with pool.acquire() as conn, conn.transaction():
        for job_type in types:
            await outbox.create_job(conn, user_id=user_id, video_id=None, job_type=job_type)


async def fresh_queues(sqs: Any, settings: Settings) -> dict[str, str]:
    """New, empty queues (with their dead-letter queues), as the stack creates them."""
    tag = uuid.uuid4().hex[:8]
    renamed = msgspec.structs.replace(
        settings,
        queue_interactive=f"bench-{tag}-interactive",
        queue_batch=f"bench-{tag}-batch",
        queue_media=f"bench-{tag}-media",
    )
    return await aws.ensure_queues(sqs, renamed)


async def queued_messages(sqs: Any, queue_urls: dict[str, str]) -> int:
    total = 0
    for url in queue_urls.values():
        answer = await sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        total += int(answer["Attributes"]["ApproximateNumberOfMessages"])
    return total


async def drain(
    relay: Relay, pool: asyncpg.Pool, sqs: Any, queue_urls: dict[str, str], calls: list[int]
) -> tuple[float, int]:
    """Seconds until the outbox is empty, and SQS calls made."""
    before = calls[0]
    started = time.perf_counter()
    while await relay(pool, sqs, queue_urls):
        pass
    return time.perf_counter() - started, calls[0] - before


async def click_wait(
    relay: Relay, pool: asyncpg.Pool, sqs: Any, queue_urls: dict[str, str]
) -> float:
    """Seconds of relay passes until no click (interactive) message is left in the outbox."""
    started = time.perf_counter()
    while True:
        await relay(pool, sqs, queue_urls)
        if not await pool.fetchval("SELECT count(*) FROM outbox WHERE queue = 'interactive'"):
            return time.perf_counter() - started


async def run(settings: Settings, jobs: int, rtts_ms: list[float]) -> None:
    async with AsyncExitStack() as stack:
        _, sqs = await aws.open_clients(settings, stack)
        pool = await db.create_pool(settings.database_url, min_size=2, max_size=4)
        stack.push_async_callback(pool.close)
        user_id = uuid.uuid4()
        await pool.execute(
            "INSERT INTO users (id, email, password_hash) VALUES ($1, 'bench@example.com', 'x')",
            user_id,
        )
        calls = [0]
        rtt = [0.0]

        async def round_trip(**_: Any) -> None:
            calls[0] += 1
            if rtt[0]:
                await asyncio.sleep(rtt[0])

        sqs.meta.events.register("before-send.sqs.SendMessage", round_trip)
        sqs.meta.events.register("before-send.sqs.SendMessageBatch", round_trip)

        print(f"{jobs} jobs a burst: " + ", ".join(f"{t} {s:.0%}" for t, s in MIX))
        print(f"{'SQS round trip':<16}{'relay':<22}{'seconds':>9}{'jobs/s':>9}{'SQS calls':>11}")
        for rtt_ms in rtts_ms:
            rtt[0] = rtt_ms / 1000
            seconds = {}
            for label, relay in (("one by one (ref)", one_by_one), ("batched (ours)", batched)):
                # Fresh queues each run: moto slows down as a queue fills, and allows one purge
                # a minute.
                queue_urls = await fresh_queues(sqs, settings)
                await fill(pool, user_id, mixed(jobs))
                took, made = await drain(relay, pool, sqs, queue_urls, calls)
                arrived = await queued_messages(sqs, queue_urls)
                seconds[label] = took
                note = "" if arrived == jobs else f"  ({arrived} arrived of {jobs}!)"
                print(
                    f"{rtt_ms:>10.0f} ms  {label:<22}{took:>9.2f}{jobs / took:>9.0f}"
                    f"{made:>11}{note}"
                )
            reference, ours = seconds.values()
            print(f"{'':<16}batched / one by one: {reference / ours:.1f}x the throughput")
        print(f"\none click queued behind {jobs} propagations: seconds until it is sent")
        for rtt_ms in rtts_ms:
            rtt[0] = rtt_ms / 1000
            waits = {}
            for label, relay in (("one FIFO (ref)", one_by_one), ("per queue (ours)", batched)):
                queue_urls = await fresh_queues(sqs, settings)
                await fill(pool, user_id, ["propagate"] * jobs + ["segment"])
                waits[label] = await click_wait(relay, pool, sqs, queue_urls)
                await drain(relay, pool, sqs, queue_urls, calls)
                print(f"{rtt_ms:>10.0f} ms  {label:<22}{waits[label]:>9.2f}")
            reference, ours = waits.values()
            print(f"{'':<16}the click waits {reference / ours:.0f}x less")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in each burst")
    parser.add_argument("--rtt-ms", default="0,10", help="added delay per SQS call, comma list")
    args = parser.parse_args()
    rtts = [float(v) for v in args.rtt_ms.split(",")]

    with local_services("outbox", postgres=True) as services:
        asyncio.run(run(bench_settings(services), args.jobs, rtts))


if __name__ == "__main__":
    main()
