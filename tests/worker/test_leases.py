"""Jobs that could run twice at once or never finish: a claim is a lease, a job has a maximum run
time, the heartbeat stops extending a hung job, and the dead-letter queue is read, with test
handlers (and the ingest handler) on real PostgreSQL, Redis and moto's SQS."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from roto.billing import repository as billing_repo
from roto.billing.service import period_start
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import JobMessage, encode_message
from roto.media.ingest import INGEST_HANDLER
from roto.resources import Resources
from roto.worker.contract import JobContext, JobHandler
from roto.worker.heartbeat import VisibilityHeartbeat
from tests.worker.support import (
    Recorder,
    create_user,
    create_video,
    dlq_url,
    enqueue_job,
    make_role,
    queue_counts,
    queue_empty,
    running_worker,
    wait_for,
    wait_for_status,
)

TERMINAL = {"succeeded", "failed", "canceled"}
FAST = {
    "worker_visibility_timeout_s": 1,
    "worker_heartbeat_interval_s": 0.3,
    "worker_dlq_poll_interval_s": 0.3,
}


async def send_again(resources: Resources, job: jobs_repo.JobRow, queue: str = "media") -> None:
    """A second message for the same job, as an outbox retry or SQS itself may deliver."""
    body = encode_message(JobMessage(job_id=str(job.id), type=job.type))
    await resources.sqs.send_message(QueueUrl=resources.queue_urls[queue], MessageBody=body)


async def video_objects(resources: Resources, video_id: uuid.UUID) -> list[str]:
    answer = await resources.s3.list_objects_v2(
        Bucket=resources.settings.s3_bucket, Prefix=f"videos/{video_id}/"
    )
    return [item["Key"] for item in answer.get("Contents", [])]


async def open_uploads(resources: Resources, video_id: uuid.UUID) -> list[str]:
    answer = await resources.s3.list_multipart_uploads(
        Bucket=resources.settings.s3_bucket, Prefix=f"videos/{video_id}/"
    )
    return [item["Key"] for item in answer.get("Uploads", [])]


@pytest.mark.parametrize("settings", [{**FAST, "worker_concurrency": 2}], indirect=True)
async def test_a_second_delivery_never_runs_a_running_job_at_the_same_time(
    resources: Resources,
) -> None:
    started = asyncio.Event()

    async def long_job(ctx: JobContext, run: int) -> None:
        started.set()
        await asyncio.sleep(3)  # three visibility timeouts: the heartbeat holds the lease

    recorder = Recorder(long_job)
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    async with running_worker(resources, make_role({"ingest": JobHandler(run=recorder)})):
        await asyncio.wait_for(started.wait(), 10)
        await send_again(resources, job)
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=20)
        # The second message comes back after the job finished, and is dropped.
        await wait_for(lambda: queue_empty(resources), 15, "the second message to be deleted")
    assert (done.status, done.attempts) == ("succeeded", 1)
    assert recorder.runs == [job.id]
    assert recorder.most_running == 1


@pytest.mark.parametrize("settings", [FAST], indirect=True)
async def test_a_job_whose_worker_died_is_claimed_again_only_after_its_lease(
    resources: Resources,
) -> None:
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    # A worker claimed it and died: its lease has 3 s left, and its message comes back at once.
    async with resources.pool.acquire() as conn:
        assert await jobs_repo.claim_job(conn, job.id, 3.0) is not None
    lease_ends = time.monotonic() + 3.0
    started_at: list[float] = []

    async def note_start(ctx: JobContext, run: int) -> None:
        started_at.append(time.monotonic())

    async with running_worker(
        resources, make_role({"ingest": JobHandler(run=Recorder(note_start))})
    ):
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=20)
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert len(started_at) == 1 and started_at[0] >= lease_ends - 0.5


@pytest.mark.parametrize("settings", [{**FAST, "worker_max_run_s": 1.0}], indirect=True)
async def test_a_job_past_its_maximum_run_time_fails_with_a_reason(
    resources: Resources,
) -> None:
    stopped: list[str] = []

    async def hang(ctx: JobContext, run: int) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            stopped.append("cancelled")
            raise

    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    async with running_worker(resources, make_role({"ingest": JobHandler(run=Recorder(hang))})):
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=15)
        await wait_for(lambda: queue_empty(resources), 10, "the message to be deleted")
    assert (done.status, done.error_code) == ("failed", "timed_out")
    assert done.error_message == "the ingest job ran longer than its limit of 1 s"
    assert stopped == ["cancelled"]


@pytest.mark.parametrize("settings", [{"worker_visibility_timeout_s": 1}], indirect=True)
async def test_the_heartbeat_stops_extending_a_job_at_its_deadline(resources: Resources) -> None:
    url = resources.queue_urls["media"]
    await resources.sqs.send_message(QueueUrl=url, MessageBody="{}")
    got = await resources.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    receipt = got["Messages"][0]["ReceiptHandle"]
    beats: list[float] = []

    async def lease() -> bool:
        beats.append(time.monotonic())
        return True

    deadline = time.monotonic() + 1.5
    heartbeat = VisibilityHeartbeat(
        resources.sqs, url, receipt, interval_s=0.2, extend_s=1, lease=lease, until=deadline
    )
    async with heartbeat:
        # A hung job: its handler never returns. Until the deadline the message stays hidden.
        await asyncio.sleep(1.2)
        assert await queue_counts(resources) == (0, 1)

        async def visible_again() -> bool:
            return (await queue_counts(resources))[0] == 1

        await wait_for(visible_again, 5, "the message to come back after the deadline")
    assert beats and max(beats) < deadline + 0.05


@pytest.mark.parametrize("settings", [FAST], indirect=True)
async def test_a_job_in_the_dead_letter_queue_is_failed_with_a_reason(
    resources: Resources,
) -> None:
    user_id = await create_user(resources)
    video_id = await create_video(resources, user_id, b"not a video")
    ingest = await enqueue_job(resources, user_id, video_id=video_id, job_type="ingest")
    # Each worker that got it died, so nothing stored an outcome; the queue's redrive moved the
    # message to the dead-letter queue, the row still running under a lease that ran out.
    async with resources.pool.acquire() as conn:
        await jobs_repo.claim_job(conn, ingest.id, 0.0)
    await resources.sqs.purge_queue(QueueUrl=resources.queue_urls["media"])
    dead = await dlq_url(resources)
    body = encode_message(JobMessage(job_id=str(ingest.id), type="ingest"))
    await resources.sqs.send_message(QueueUrl=dead, MessageBody=body)

    async with running_worker(resources, make_role({"ingest": INGEST_HANDLER})):
        done = await wait_for_status(resources, ingest.id, TERMINAL, timeout_s=15)
    video = await resources.pool.fetchrow(
        "SELECT status, error_code FROM videos WHERE id = $1", video_id
    )
    left = await resources.sqs.receive_message(QueueUrl=dead, WaitTimeSeconds=1)

    assert (done.status, done.error_code) == ("failed", "dead_lettered")
    assert "dead-letter queue" in (done.error_message or "")
    assert (video["status"], video["error_code"]) == ("failed", "dead_lettered")
    # Left for the alarm and the runbook.
    assert [m["Body"] for m in left.get("Messages", [])] == [body]


@pytest.mark.parametrize("settings", [FAST], indirect=True)
async def test_a_dead_lettered_gpu_job_gives_its_quota_back(resources: Resources) -> None:
    user_id = await create_user(resources)
    video_id = await create_video(resources, user_id, b"x")
    payload: dict[str, Any] = {"note": "never run"}
    job = await enqueue_job(
        resources, user_id, video_id=video_id, job_type="propagate", payload=payload
    )
    await resources.pool.execute("UPDATE jobs SET progress_total = 500 WHERE id = $1", job.id)
    async with resources.pool.acquire() as conn:
        held = (await billing_repo.quota_state(conn, user_id, period_start())).frames_reserved
    await resources.sqs.purge_queue(QueueUrl=resources.queue_urls["batch"])
    dead = await dlq_url(resources, "batch")
    await resources.sqs.send_message(
        QueueUrl=dead, MessageBody=encode_message(JobMessage(job_id=str(job.id), type="propagate"))
    )

    role = make_role({"propagate": JobHandler(run=Recorder())}, queues=("batch",))
    async with running_worker(resources, role):
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=15)
    async with resources.pool.acquire() as conn:
        after = (await billing_repo.quota_state(conn, user_id, period_start())).frames_reserved
    assert (held, done.status, done.error_code, after) == (500, "failed", "dead_lettered", 0)


@pytest.mark.parametrize("settings", [FAST], indirect=True)
async def test_a_rerun_after_a_dead_worker_first_aborts_its_leftover_uploads(
    resources: Resources,
) -> None:
    user_id = await create_user(resources)
    video_id = await create_video(resources, user_id, b"x")
    job = await enqueue_job(resources, user_id, video_id=video_id, job_type="ingest")
    bucket = resources.settings.s3_bucket
    mine = f"videos/{video_id}/exports/{job.id}/clip.zip"
    others = f"videos/{video_id}/exports/{uuid.uuid4()}/clip.zip"
    for key in (mine, others):
        await resources.s3.create_multipart_upload(Bucket=bucket, Key=key)
    async with resources.pool.acquire() as conn:
        await jobs_repo.claim_job(conn, job.id, 0.0)  # the first attempt's worker died
    seen: list[list[str]] = []

    async def look(ctx: JobContext, run: int) -> None:
        seen.append(await open_uploads(resources, video_id))

    async with running_worker(resources, make_role({"ingest": JobHandler(run=Recorder(look))})):
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=15)
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert seen == [[others]]
