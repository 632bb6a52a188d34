"""How the runtime schedules work: concurrency, queue priority, the visibility heartbeat and
stopping, with test handlers on real PostgreSQL, Redis and moto's SQS."""

from __future__ import annotations

import asyncio
import time

import pytest

from roto.jobs.contracts import JobMessage, decode_message, encode_message
from roto.resources import Resources
from roto.worker.contract import JobContext, JobHandler
from roto.worker.receiver import Receiver
from roto.worker.runtime import WorkerRuntime
from tests.worker.support import (
    Recorder,
    create_user,
    enqueue_job,
    get_job,
    has_at_least,
    make_role,
    queue_counts,
    running_worker,
    wait_for,
    wait_for_status,
)

TERMINAL = {"succeeded", "failed", "canceled"}


@pytest.mark.parametrize("settings", [{"worker_concurrency": 2}], indirect=True)
async def test_at_most_concurrency_jobs_are_received_at_once(resources: Resources) -> None:
    gate = asyncio.Event()

    async def wait_for_gate(ctx: JobContext, run: int) -> None:
        await gate.wait()

    recorder = Recorder(wait_for_gate)
    user_id = await create_user(resources)
    jobs = [await enqueue_job(resources, user_id) for _ in range(5)]
    async with running_worker(resources, make_role({"ingest": JobHandler(run=recorder)})):
        await wait_for(lambda: has_at_least(recorder.runs, 2), 10, "two jobs to start")
        await asyncio.sleep(1.5)  # longer than a long poll: a third would have been received
        assert recorder.running == 2
        assert await queue_counts(resources) == (3, 2)
        gate.set()
        for job in jobs:
            assert (await wait_for_status(resources, job.id, TERMINAL)).status == "succeeded"
    assert recorder.most_running == 2
    assert sorted(recorder.runs) == sorted(job.id for job in jobs)


async def test_waiting_interactive_work_is_received_before_batch_work(
    resources: Resources,
) -> None:
    user_id = await create_user(resources)
    batch = await enqueue_job(resources, user_id, job_type="propagate")
    interactive = await enqueue_job(resources, user_id, job_type="segment")
    queues = [(name, resources.queue_urls[name]) for name in ("interactive", "batch")]
    receiver = Receiver(resources.sqs, queues, wait_time_s=1)
    free = {"interactive": 1, "batch": 1}

    first = await receiver.receive(free)
    second = await receiver.receive(free)

    jobs = [[decode_message(d.body).job_id for d in got] for got in (first, second)]
    assert jobs == [[str(interactive.id)], [str(batch.id)]]
    assert [d.queue for d in first + second] == ["interactive", "batch"]
    for delivery in first + second:
        await receiver.delete(delivery)


@pytest.mark.parametrize("settings", [{"worker_concurrency": 1}], indirect=True)
async def test_long_batch_jobs_never_hold_the_slots_of_interactive_jobs(
    resources: Resources,
) -> None:
    """Each queue has its own slots: a click starts while a propagation fills the batch slot."""
    gate = asyncio.Event()

    async def hold_batch(ctx: JobContext, run: int) -> None:
        if ctx.job.type == "propagate":
            await gate.wait()

    recorder = Recorder(hold_batch)
    user_id = await create_user(resources)
    batch = await enqueue_job(resources, user_id, job_type="propagate")
    handler = JobHandler(run=recorder)
    role = make_role({"segment": handler, "propagate": handler}, queues=("interactive", "batch"))
    async with running_worker(resources, role):
        await wait_for(lambda: has_at_least(recorder.runs, 1), 10, "the batch job to start")
        clicks = [await enqueue_job(resources, user_id, job_type="segment") for _ in range(2)]
        for click in clicks:
            assert (await wait_for_status(resources, click.id, TERMINAL)).status == "succeeded"
        assert recorder.running == 1  # the propagation still holds its own slot
        gate.set()
        assert (await wait_for_status(resources, batch.id, TERMINAL)).status == "succeeded"
    assert recorder.runs == [batch.id, *(click.id for click in clicks)]


async def test_job_type_the_role_does_not_run_is_failed(resources: Resources) -> None:
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id, job_type="export")
    async with running_worker(resources, make_role({"ingest": JobHandler(run=Recorder())})):
        done = await wait_for_status(resources, job.id, TERMINAL)
    assert (done.status, done.error_code) == ("failed", "unsupported_job_type")


@pytest.mark.parametrize(
    "settings",
    [{"worker_visibility_timeout_s": 2, "worker_heartbeat_interval_s": 0.5}],
    indirect=True,
)
async def test_heartbeat_keeps_a_long_job_from_being_delivered_twice(
    resources: Resources,
) -> None:
    async def outlast_visibility(ctx: JobContext, run: int) -> None:
        await asyncio.sleep(5)  # 2.5 x the visibility timeout

    recorder = Recorder(outlast_visibility)
    role = make_role({"ingest": JobHandler(run=recorder)})
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    # Two runtimes poll the same queue: without the heartbeat the second would get the message.
    async with running_worker(resources, role), running_worker(resources, role):
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=20)
        await asyncio.sleep(2.5)
    assert done.status == "succeeded"
    assert recorder.runs == [job.id]
    assert await queue_counts(resources) == (0, 0)


async def test_stop_lets_a_running_job_finish(resources: Resources) -> None:
    async def short_job(ctx: JobContext, run: int) -> None:
        await asyncio.sleep(1.0)

    recorder = Recorder(short_job)
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    runtime = WorkerRuntime(resources, make_role({"ingest": JobHandler(run=recorder)}))
    task = asyncio.create_task(runtime.run())
    await wait_for(lambda: has_at_least(recorder.runs, 1), 10, "the job to start")
    runtime.request_stop()
    await asyncio.wait_for(task, timeout=resources.settings.worker_drain_timeout_s)
    assert (await get_job(resources, job.id)).status == "succeeded"
    assert await queue_counts(resources) == (0, 0)


@pytest.mark.parametrize("settings", [{"worker_drain_timeout_s": 0.5}], indirect=True)
async def test_stop_hands_back_a_job_still_running_at_the_drain_timeout(
    resources: Resources,
) -> None:
    async def endless(ctx: JobContext, run: int) -> None:
        await asyncio.sleep(3600)

    recorder = Recorder(endless)
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    runtime = WorkerRuntime(resources, make_role({"ingest": JobHandler(run=recorder)}))
    task = asyncio.create_task(runtime.run())
    await wait_for(lambda: has_at_least(recorder.runs, 1), 10, "the job to start")
    stop_at = time.monotonic()
    runtime.request_stop()
    await asyncio.wait_for(task, timeout=10)
    # Drain timeout, plus at most the long poll that was under way.
    assert time.monotonic() - stop_at < 0.5 + resources.settings.worker_wait_time_s + 1
    # Visible again at once, though the visibility timeout is 10 s.
    got = await resources.sqs.receive_message(
        QueueUrl=resources.queue_urls["media"], WaitTimeSeconds=0
    )
    assert [m["Body"] for m in got.get("Messages", [])] == [
        encode_message(JobMessage(job_id=str(job.id), type="ingest", request_id=job.request_id))
    ]
    assert (await get_job(resources, job.id)).status == "running"
