"""``JobWatch.wait`` on real Redis and PostgreSQL: the answer to a ``?wait=`` is the job as its
terminal event announced it (the worker publishes after its commit), with no read of its own;
an event that does not describe the job is not taken for it."""

from __future__ import annotations

import asyncio
import time

import msgspec

from roto.jobs import events, outbox
from roto.jobs import repository as jobs_repo
from roto.jobs.watch import JobWatch
from roto.resources import Resources
from roto.timefmt import utcnow
from tests.worker.support import create_user


async def queued_job(resources: Resources) -> jobs_repo.JobRow:
    user_id = await create_user(resources)
    async with resources.pool.acquire() as conn, conn.transaction():
        return await outbox.create_job(conn, user_id=user_id, video_id=None, job_type="segment")


async def announce_when_subscribed(
    resources: Resources, job: jobs_repo.JobRow, data: object
) -> None:
    channel = events.channel(str(job.id))
    for _ in range(500):  # until the watch listens: a message before that reaches nobody
        listening = await resources.redis.pubsub_numsub(channel)
        if listening and listening[0][1] > 0:
            break
        await asyncio.sleep(0.01)
    await events.publish(resources.redis, str(job.id), "status", data)


async def wait_for_announced(
    resources: Resources, job: jobs_repo.JobRow, finished: jobs_repo.JobRow
) -> jobs_repo.JobRow:
    """A watch's answer to a ``?wait=`` of ``job`` while ``finished`` is announced for it."""
    async with JobWatch(resources, resync_s=60, poll_s=60) as watch:
        await watch.subscribe(job.id)
        announcing = asyncio.create_task(
            announce_when_subscribed(resources, job, msgspec.to_builtins(finished.to_wire()))
        )
        answer = await watch.wait(job, 10)
        await announcing
    return answer


async def test_the_answer_is_the_job_its_terminal_event_announced(resources: Resources) -> None:
    job = await queued_job(resources)
    now = utcnow()
    finished = msgspec.structs.replace(
        job, status="succeeded", result={"mask": "m"}, started_at=now, finished_at=now
    )
    answer = await wait_for_announced(resources, job, finished)
    # The row still says queued: the answer came from the event, not from a read.
    assert answer.status == "succeeded" and answer.result == {"mask": "m"}
    assert answer.to_wire() == finished.to_wire()


async def test_a_terminal_event_of_another_shape_is_read_back(resources: Resources) -> None:
    job = await queued_job(resources)
    async with JobWatch(resources, resync_s=60, poll_s=60) as watch:
        await watch.subscribe(job.id)
        announcing = asyncio.create_task(
            announce_when_subscribed(resources, job, {"status": "succeeded"})
        )
        answer = await watch.wait(job, 10)
        await announcing
    assert answer.status == "queued"  # what PostgreSQL says


async def connections_made(resources: Resources) -> int:
    """Connections Redis has accepted since it started (from any client)."""
    stats = await resources.redis.info("stats")
    return int(stats["total_connections_received"])


async def test_watches_one_after_another_reuse_one_subscriber_connection(
    resources: Resources,
) -> None:
    """A watch that ended cleanly leaves its subscriber connection to the next: clicks after the
    first make no new Redis connection (redis-py drops a closed PubSub's connection)."""
    jobs = [await queued_job(resources) for _ in range(4)]
    await resources.redis.ping()
    before = None
    for job in jobs:
        finished = msgspec.structs.replace(job, status="succeeded", finished_at=utcnow())
        answer = await wait_for_announced(resources, job, finished)
        assert answer.status == "succeeded"  # each answer came from its own job's event
        assert resources.subscribers.idle == 1
        if before is None:
            before = await connections_made(resources)
    assert await connections_made(resources) == before


async def test_an_event_of_the_earlier_job_is_not_taken_for_the_next(resources: Resources) -> None:
    """On a reused subscriber, a message of the channel it listened to before is skipped."""
    first, second = await queued_job(resources), await queued_job(resources)
    async with JobWatch(resources, resync_s=60, poll_s=60) as watch:
        await watch.subscribe(first.id)
    async with JobWatch(resources, resync_s=60, poll_s=60) as watch:
        await watch.subscribe(second.id)
        assert resources.subscribers.idle == 0  # it took the first watch's
        # The earlier channel, subscribed again as if by a reconnect before its UNSUBSCRIBE.
        assert watch._pubsub is not None
        await watch._pubsub.subscribe(events.channel(str(first.id)))
        await announce_when_subscribed(resources, first, {"status": "running"})
        await events.publish(resources.redis, str(second.id), "progress", {"done": 1})
        await events.publish(resources.redis, str(second.id), "status", {"status": "failed"})
        seen = [
            (event.event, event.data)
            async for event in watch.follow(second, until=time.monotonic() + 10)
            if isinstance(event, events.JobEvent)
        ]
    assert seen == [("progress", {"done": 1}), ("status", {"status": "failed"})]


async def test_a_watch_cut_off_while_reading_closes_its_connection(resources: Resources) -> None:
    """A read cancelled half-way may leave half a reply on the connection: not kept."""
    job = await queued_job(resources)

    async def watch_until_cancelled() -> None:
        async with JobWatch(resources, resync_s=60, poll_s=60) as watch:
            await watch.subscribe(job.id)
            await watch.wait(job, 30)

    watching = asyncio.create_task(watch_until_cancelled())
    channel = events.channel(str(job.id))
    for _ in range(500):
        listening = await resources.redis.pubsub_numsub(channel)
        if listening and listening[0][1] > 0:
            break
        await asyncio.sleep(0.01)
    watching.cancel()
    await asyncio.gather(watching, return_exceptions=True)
    assert resources.subscribers.idle == 0
    assert (await resources.redis.pubsub_numsub(channel))[0][1] == 0
