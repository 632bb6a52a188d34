"""What the runtime does with each outcome of a job (success, expected and unexpected failure,
cancel, poison message), with test handlers on real PostgreSQL, Redis and moto's SQS."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import JobMessage, encode_message
from roto.resources import Resources
from roto.worker.contract import JobContext, JobFailed, JobHandler
from tests.worker.support import (
    Recorder,
    create_user,
    dlq_url,
    enqueue_job,
    get_job,
    has_at_least,
    job_events,
    make_role,
    queue_counts,
    queue_empty,
    running_worker,
    wait_for,
    wait_for_status,
)

TERMINAL = {"succeeded", "failed", "canceled"}
FAST_RETRY = {"worker_visibility_timeout_s": 1, "worker_heartbeat_interval_s": 0.3}


async def test_result_is_stored_then_message_deleted(resources: Resources) -> None:
    recorder = Recorder()
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    async with (
        job_events(resources, job.id) as seen,
        running_worker(resources, make_role({"ingest": JobHandler(run=recorder)})),
    ):
        done = await wait_for_status(resources, job.id, TERMINAL)
        await wait_for(lambda: queue_empty(resources), 10, "the message to be deleted")
    assert (done.status, done.result, done.attempts) == ("succeeded", {"runs": 1}, 1)
    assert done.started_at is not None and done.finished_at is not None
    statuses = seen.of_kind("status")
    assert [s["status"] for s in statuses] == ["running", "succeeded"]
    assert statuses[-1]["result"] == {"runs": 1} and statuses[-1]["id"] == str(job.id)


async def test_work_left_behind_the_answer_starts_once_the_outcome_is_stored(
    resources: Resources,
) -> None:
    # What a handler leaves for later (a segment job's state writes) waits for ctx.finished,
    # which is set only once the job's outcome has committed (and was announced).
    seen_at_finish: list[str | None] = []
    behind: list[asyncio.Task[None]] = []

    async def after_the_answer(ctx: JobContext) -> None:
        await ctx.finished.wait()
        async with ctx.resources.pool.acquire() as conn:
            seen_at_finish.append(await jobs_repo.get_status(conn, ctx.job.id))

    async def leave_work(ctx: JobContext, run: int) -> None:
        behind.append(asyncio.create_task(after_the_answer(ctx)))
        await asyncio.sleep(0.05)
        assert not ctx.finished.is_set()

    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    async with running_worker(
        resources, make_role({"ingest": JobHandler(run=Recorder(leave_work))})
    ):
        done = await wait_for_status(resources, job.id, TERMINAL)
        await asyncio.wait_for(asyncio.gather(*behind), 10)
    assert done.status == "succeeded"
    assert seen_at_finish == ["succeeded"]


async def test_expected_failure_fails_the_job_once_without_retry(resources: Resources) -> None:
    async def refuse(ctx: JobContext, run: int) -> None:
        raise JobFailed("bad_input", "the input is wrong in a way a retry cannot fix")

    recorder = Recorder(refuse)
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    async with running_worker(resources, make_role({"ingest": JobHandler(run=recorder)})):
        done = await wait_for_status(resources, job.id, TERMINAL)
        await wait_for(lambda: queue_empty(resources), 10, "the message to be deleted")
    assert (done.status, done.error_code) == ("failed", "bad_input")
    assert done.error_message == "the input is wrong in a way a retry cannot fix"
    assert recorder.runs == [job.id]


async def test_failure_hook_runs_in_the_failing_transaction(resources: Resources) -> None:
    hooked: list[tuple[str, str, str]] = []

    async def refuse(ctx: JobContext, run: int) -> None:
        raise JobFailed("bad_input", "nope")

    async def on_failure(conn: Any, job: jobs_repo.JobRow, code: str, message: str) -> None:
        # The job row is already failed inside this transaction.
        hooked.append((await jobs_repo.get_status(conn, job.id) or "", code, message))

    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    handler = JobHandler(run=Recorder(refuse), on_failure=on_failure)
    async with running_worker(resources, make_role({"ingest": handler})):
        await wait_for_status(resources, job.id, TERMINAL)
    assert hooked == [("failed", "bad_input", "nope")]


@pytest.mark.parametrize("settings", [FAST_RETRY], indirect=True)
async def test_unexpected_error_is_retried_by_redelivery(resources: Resources) -> None:
    async def flaky(ctx: JobContext, run: int) -> None:
        if run == 1:
            raise ConnectionError("storage blinked")

    recorder = Recorder(flaky)
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    async with running_worker(resources, make_role({"ingest": JobHandler(run=recorder)})):
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=20)
    assert (done.status, done.result, done.attempts) == ("succeeded", {"runs": 2}, 2)
    assert recorder.runs == [job.id, job.id]


@pytest.mark.parametrize("settings", [FAST_RETRY], indirect=True)
async def test_poison_message_fails_the_job_and_lands_in_the_dlq(resources: Resources) -> None:
    async def crash(ctx: JobContext, run: int) -> None:
        raise RuntimeError(f"boom {run}")

    recorder = Recorder(crash)
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    dead = await dlq_url(resources)

    async def in_dlq() -> bool:
        attrs = await resources.sqs.get_queue_attributes(
            QueueUrl=dead, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return attrs["Attributes"]["ApproximateNumberOfMessages"] == "1"

    async with running_worker(resources, make_role({"ingest": JobHandler(run=recorder)})):
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=30)
        await wait_for(in_dlq, 15, "the message to reach the DLQ")
    max_receives = resources.settings.worker_max_receives
    assert len(recorder.runs) == max_receives
    assert (done.status, done.error_code) == ("failed", "internal_error")
    assert done.error_message == f"RuntimeError: boom {max_receives}"
    assert await queue_counts(resources) == (0, 0)
    got = await resources.sqs.receive_message(QueueUrl=dead, WaitTimeSeconds=1)
    assert [m["Body"] for m in got["Messages"]] == [
        encode_message(JobMessage(job_id=str(job.id), type="ingest", request_id=job.request_id))
    ]


@pytest.mark.parametrize("settings", [FAST_RETRY], indirect=True)
async def test_undecodable_message_is_left_to_reach_the_dlq(resources: Resources) -> None:
    recorder = Recorder()
    await resources.sqs.send_message(QueueUrl=resources.queue_urls["media"], MessageBody="{oops")
    dead = await dlq_url(resources)

    async def in_dlq() -> bool:
        attrs = await resources.sqs.get_queue_attributes(
            QueueUrl=dead, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return attrs["Attributes"]["ApproximateNumberOfMessages"] == "1"

    async with running_worker(resources, make_role({"ingest": JobHandler(run=recorder)})):
        await wait_for(in_dlq, 20, "the message to reach the DLQ")
    assert recorder.runs == []


async def test_canceled_job_is_not_run(resources: Resources) -> None:
    recorder = Recorder()
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    async with resources.pool.acquire() as conn:
        assert await jobs_repo.cancel_job(conn, job.id, user_id) is not None
    async with running_worker(resources, make_role({"ingest": JobHandler(run=recorder)})):
        await wait_for(lambda: queue_empty(resources), 10, "the message to be deleted")
    assert recorder.runs == []
    assert (await get_job(resources, job.id)).status == "canceled"


async def test_cancel_while_running_stops_the_handler(resources: Resources) -> None:
    reached: list[int] = []

    async def long_job(ctx: JobContext, run: int) -> None:
        for done in range(1000):
            await ctx.report_progress(done, 1000)
            reached.append(done)
            await asyncio.sleep(0.02)

    failures: list[str] = []

    async def on_failure(conn: Any, job: jobs_repo.JobRow, code: str, message: str) -> None:
        failures.append(code)

    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    handler = JobHandler(run=Recorder(long_job), on_failure=on_failure)
    async with running_worker(resources, make_role({"ingest": handler})):
        await wait_for(lambda: has_at_least(reached, 10), 10, "the job to make progress")
        async with resources.pool.acquire() as conn:
            assert await jobs_repo.cancel_job(conn, job.id, user_id) is not None
        await wait_for(lambda: queue_empty(resources), 10, "the message to be deleted")
        stopped_at = len(reached)
        await asyncio.sleep(0.3)
    assert len(reached) == stopped_at < 1000
    assert failures == ["canceled"]
    assert (await get_job(resources, job.id)).status == "canceled"
