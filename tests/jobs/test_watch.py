"""``JobWatch.wait`` on real Redis and PostgreSQL: the answer to a ``?wait=`` is the job as its
terminal event announced it (the worker publishes after its commit), with no read of its own;
an event that does not describe the job is not taken for it."""

from __future__ import annotations

import asyncio

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


async def test_the_answer_is_the_job_its_terminal_event_announced(resources: Resources) -> None:
    job = await queued_job(resources)
    now = utcnow()
    finished = msgspec.structs.replace(
        job, status="succeeded", result={"mask": "m"}, started_at=now, finished_at=now
    )
    async with JobWatch(resources, resync_s=60, poll_s=60) as watch:
        await watch.subscribe(job.id)
        announcing = asyncio.create_task(
            announce_when_subscribed(resources, job, msgspec.to_builtins(finished.to_wire()))
        )
        answer = await watch.wait(job, 10)
        await announcing
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
