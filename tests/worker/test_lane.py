"""The fast lane (``roto.jobs.lane``): a click's job handed to a waiting worker through Redis,
its SQS message held back and withdrawn once the job has its outcome; on real Redis, PostgreSQL
and moto's SQS. Nothing depends on the lane: a hint nobody takes, a stale one or an unreachable
Redis cost the click the SQS round trip, never the job, and never a second run."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
import uuid

import msgspec
import pytest
from redis.asyncio import Redis

from roto.jobs import lane, outbox
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import JobMessage, decode_message, encode_message
from roto.resources import Resources, open_redis
from roto.settings import Settings
from roto.worker.contract import JobContext, JobHandler
from tests.worker.support import (
    Recorder,
    create_user,
    make_role,
    queue_counts,
    running_worker,
    wait_for,
    wait_for_status,
)

TERMINAL = {"succeeded", "failed", "canceled"}
CLICKS = ("interactive",)
LANE_ON = {"job_lane": True, "job_lane_hold_s": 2.0}


async def queue_job(
    resources: Resources, job_type: str = "segment", hold_s: float | None = None
) -> jobs_repo.JobRow:
    """A committed job whose message is held as ``dispatch`` expects (or for ``hold_s``)."""
    user_id = await create_user(resources)
    if hold_s is None:
        hold_s = lane.hold_s(resources.settings, job_type)
    async with resources.pool.acquire() as conn, conn.transaction():
        return await outbox.create_job(
            conn,
            user_id=user_id,
            video_id=None,
            job_type=job_type,
            request_id="r-1",
            hold_s=hold_s,
        )


async def relay(resources: Resources) -> int:
    return await outbox.relay(resources.pool, resources.sqs, resources.queue_urls)


async def outbox_rows(resources: Resources) -> int:
    async with resources.pool.acquire() as conn:
        return await jobs_repo.count_outbox(conn)


def lane_name(resources: Resources) -> str:
    return resources.settings.queue_names["interactive"]


async def test_an_offered_click_job_is_taken_with_its_message_body(resources: Resources) -> None:
    job = await queue_job(resources)
    assert await lane.offer(resources.redis, resources.settings.queue_names, job)
    key = lane.lane_key(lane_name(resources))
    assert 0 < await resources.redis.ttl(key) <= lane.TTL_S  # gone if nobody reads it
    hint = await lane.take(resources.redis, lane_name(resources), 1.0)
    assert hint is not None
    message = decode_message(hint.body)
    assert (message.job_id, message.type, message.request_id) == (str(job.id), "segment", "r-1")
    assert 0 <= hint.age_s < lane.MAX_AGE_S


@pytest.mark.parametrize("settings", [LANE_ON], indirect=True)
async def test_only_jobs_of_lane_queues_are_held_and_offered(resources: Resources) -> None:
    assert lane.hold_s(resources.settings, "segment") == 2.0
    assert lane.hold_s(resources.settings, "detect") == 2.0
    assert lane.hold_s(resources.settings, "ingest") == 0.0
    assert lane.hold_s(resources.settings, "propagate") == 0.0
    job = await queue_job(resources, "ingest")
    assert not await lane.offer(resources.redis, resources.settings.queue_names, job)
    for name in resources.settings.queue_names.values():
        assert await resources.redis.llen(lane.lane_key(name)) == 0


async def test_with_the_lane_off_nothing_is_held(resources: Resources) -> None:
    assert lane.hold_s(resources.settings, "segment") == 0.0


async def test_a_stale_hint_is_dropped_unread(resources: Resources) -> None:
    key = lane.lane_key(lane_name(resources))
    body = encode_message(JobMessage(job_id=str(uuid.uuid4()), type="segment"))
    stale = lane.Hint(body, time.time() - lane.MAX_AGE_S - 1)
    await resources.redis.lpush(key, msgspec.json.encode(stale))
    assert await lane.take(resources.redis, lane_name(resources), 1.0) is None
    assert await resources.redis.llen(key) == 0


@pytest.mark.parametrize("settings", [LANE_ON], indirect=True)
async def test_a_job_redis_cannot_take_has_its_message_sent_at_once(
    resources: Resources, settings: Settings
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connections are refused
    away: Redis = open_redis(
        msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{port}/0")
    )
    try:
        job = await queue_job(resources)
        assert await relay(resources) == 0  # held for the lane
        began = time.monotonic()
        await lane.dispatch(dataclasses.replace(resources, redis=away), job)
        assert time.monotonic() - began < 2 * settings.redis_timeout_s + 1
        assert resources.outbox_wake.is_set()  # the relay is woken to send it
        assert await relay(resources) == 1  # not offered: sent at once
        # Paused after the failure: the next offer does not even try.
        began = time.monotonic()
        assert not await lane.offer(away, settings.queue_names, job)
        assert time.monotonic() - began < 0.1
    finally:
        await away.aclose()


@pytest.mark.parametrize("settings", [{**LANE_ON, "job_lane_hold_s": 0.5}], indirect=True)
async def test_a_hint_nobody_takes_leaves_the_job_to_sqs_once_its_hold_is_over(
    resources: Resources,
) -> None:
    job = await queue_job(resources)
    await lane.dispatch(resources, job)
    assert not resources.outbox_wake.is_set()  # offered: nothing is due for the relay yet
    assert await relay(resources) == 0
    deadline = time.monotonic() + 10
    while await relay(resources) == 0:  # due half a second after the commit
        assert time.monotonic() < deadline, "the held message was never sent"
        await asyncio.sleep(0.1)
    recorder = Recorder()
    role = make_role({"segment": JobHandler(run=recorder)}, queues=CLICKS)
    async with running_worker(resources, role):
        done = await wait_for_status(resources, job.id, TERMINAL)
    assert done.status == "succeeded" and recorder.runs == [job.id]


@pytest.mark.parametrize("settings", [LANE_ON], indirect=True)
async def test_a_job_from_the_lane_runs_and_its_held_message_is_never_sent(
    resources: Resources,
) -> None:
    recorder = Recorder()
    role = make_role({"segment": JobHandler(run=recorder)}, queues=CLICKS)
    async with running_worker(resources, role):
        job = await queue_job(resources)
        await lane.dispatch(resources, job)
        done = await wait_for_status(resources, job.id, TERMINAL)
        assert await outbox_rows(resources) == 0  # withdrawn with the outcome
    assert done.status == "succeeded"
    assert recorder.runs == [job.id]
    assert await relay(resources) == 0
    assert await queue_counts(resources, "interactive") == (0, 0)


# A 60 s visibility makes the lease 55 s: a message put off until the lease runs out (what a
# message of a job running on another worker gets) would stay in flight past the test's wait.
@pytest.mark.parametrize(
    "settings", [{**LANE_ON, "worker_visibility_timeout_s": 60}], indirect=True
)
async def test_the_message_of_a_job_still_running_from_the_lane_is_settled_by_that_run(
    resources: Resources,
) -> None:
    gate = asyncio.Event()

    async def hold(ctx: JobContext, run: int) -> None:
        await asyncio.wait_for(gate.wait(), 30)

    recorder = Recorder(hold)
    role = make_role({"segment": JobHandler(run=recorder)}, queues=CLICKS)
    async with running_worker(resources, role):
        job = await queue_job(resources, hold_s=0.0)  # as if its hold ran out while it ran
        assert await lane.offer(resources.redis, resources.settings.queue_names, job)
        await wait_for(lambda: _running(recorder), 10, "the lane run to start")
        assert await relay(resources) == 1
        # Received while the job runs here: held in flight, not run a second time...
        await wait_for(lambda: _in_flight(resources), 10, "the message to be received")
        gate.set()
        done = await wait_for_status(resources, job.id, TERMINAL)
        # ...and deleted with the run's outcome, not put off until the lease runs out.
        await wait_for(lambda: _empty(resources), 10, "the message to be deleted")
    assert done.status == "succeeded"
    assert recorder.runs == [job.id]


async def test_with_the_lane_off_a_worker_leaves_it_alone(resources: Resources) -> None:
    recorder = Recorder()
    role = make_role({"segment": JobHandler(run=recorder)}, queues=CLICKS)
    async with running_worker(resources, role):
        job = await queue_job(resources)
        assert await lane.offer(resources.redis, resources.settings.queue_names, job)
        assert await relay(resources) == 1
        done = await wait_for_status(resources, job.id, TERMINAL)
    assert done.status == "succeeded" and recorder.runs == [job.id]
    # The hint was never taken (it expires with its list).
    assert await resources.redis.llen(lane.lane_key(lane_name(resources))) == 1


async def _empty(resources: Resources) -> bool:
    return await queue_counts(resources, "interactive") == (0, 0)


async def _in_flight(resources: Resources) -> bool:
    return await queue_counts(resources, "interactive") == (0, 1)


async def _running(recorder: Recorder) -> bool:
    return recorder.running == 1
