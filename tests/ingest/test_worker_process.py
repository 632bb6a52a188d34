"""The media worker as a process (``python -m roto.worker --role media``): killed mid-job,
stopped with SIGTERM, and its JSON logs."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from roto.jobs.contracts import JobMessage, encode_message
from roto.jobs.repository import JobRow
from roto.resources import Resources
from roto.settings import Settings
from roto.worker.registry import build_role
from tests.media import make_video
from tests.worker.support import (
    create_user,
    create_video,
    enqueue_job,
    get_job,
    job_events,
    log_lines,
    queue_counts,
    running_worker,
    start_worker_process,
    wait_for,
    wait_for_status,
)

pytestmark = pytest.mark.slow

TERMINAL = {"succeeded", "failed", "canceled"}
# Long enough at 320x240 (several seconds of extraction) to stop a worker in the middle.
FRAMES = 900


async def long_ingest_job(resources: Resources, tmp_path: Path) -> tuple[uuid.UUID, JobRow]:
    data = make_video(tmp_path / "long.mp4", frames=FRAMES, width=320, height=240).read_bytes()
    user_id = await create_user(resources)
    video_id = await create_video(resources, user_id, data)
    return video_id, await enqueue_job(
        resources, user_id, video_id=video_id, payload={"video_id": str(video_id)}
    )


async def wait_until_midway(resources: Resources, job_id: uuid.UUID) -> JobRow:
    """Wait for stored progress past the start: the worker is extracting frames."""

    async def midway() -> bool:
        job = await get_job(resources, job_id)
        return job.status == "running" and job.progress_done >= 50

    await wait_for(midway, 60, "the job to be midway")
    job = await get_job(resources, job_id)
    assert job.progress_done < FRAMES, "the job finished before the worker could be stopped"
    return job


async def wait_exit(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"worker still running {timeout_s}s after the signal")
        await asyncio.sleep(0.05)
    return proc.returncode


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


async def frame_count_in_storage(resources: Resources, video_id: uuid.UUID) -> int:
    count = 0
    pages = resources.s3.get_paginator("list_objects_v2").paginate(
        Bucket=resources.settings.s3_bucket, Prefix=f"videos/{video_id}/frames/"
    )
    async for page in pages:
        count += len(page.get("Contents", []))
    return count


async def assert_ingested_once(resources: Resources, video_id: uuid.UUID, job: JobRow) -> None:
    assert job.status == "succeeded", job.error_message
    assert job.result is not None and job.result["frame_count"] == FRAMES
    row = await resources.pool.fetchrow(
        "SELECT status, frame_count FROM videos WHERE id = $1", video_id
    )
    assert row is not None and (row["status"], row["frame_count"]) == ("ready", FRAMES)
    assert await frame_count_in_storage(resources, video_id) == FRAMES


@pytest.mark.parametrize(
    "settings",
    [{"worker_visibility_timeout_s": 3, "worker_heartbeat_interval_s": 1.0}],
    indirect=True,
)
async def test_job_of_a_killed_worker_is_finished_once_by_the_next(
    resources: Resources, settings: Settings, tmp_path: Path
) -> None:
    video_id, job = await long_ingest_job(resources, tmp_path)
    first_log = tmp_path / "first.log"
    async with job_events(resources, job.id) as seen:
        first = start_worker_process(settings, first_log)
        try:
            await wait_until_midway(resources, job.id)
            first.send_signal(signal.SIGKILL)
            first.wait()
        finally:
            stop(first)
        assert (await get_job(resources, job.id)).status == "running"

        second = start_worker_process(settings, tmp_path / "second.log")
        try:
            done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=90)
        finally:
            second.send_signal(signal.SIGTERM)
            await wait_exit(second, 30)
    await assert_ingested_once(resources, video_id, done)
    assert done.attempts == 2
    assert [s["status"] for s in seen.of_kind("status")].count("succeeded") == 1

    # Every line the first worker logged for the job carries the job's ids and request id.
    job_lines = [line for line in log_lines(first_log) if line.get("job_id") == str(job.id)]
    assert {"job_started", "ingest_probed"} <= {line["event"] for line in job_lines}
    assert all(line["request_id"] == job.request_id for line in job_lines)
    assert all(line["job_type"] == "ingest" for line in job_lines)


@pytest.mark.parametrize("settings", [{"worker_drain_timeout_s": 60.0}], indirect=True)
async def test_sigterm_lets_the_running_job_finish_and_exits_0(
    resources: Resources, settings: Settings, tmp_path: Path
) -> None:
    video_id, job = await long_ingest_job(resources, tmp_path)
    proc = start_worker_process(settings, tmp_path / "worker.log")
    try:
        await wait_until_midway(resources, job.id)
        proc.send_signal(signal.SIGTERM)
        assert await wait_exit(proc, settings.worker_drain_timeout_s + 5) == 0
    finally:
        stop(proc)
    await assert_ingested_once(resources, video_id, await get_job(resources, job.id))
    assert await queue_counts(resources) == (0, 0)


@pytest.mark.parametrize("settings", [{"worker_drain_timeout_s": 0.5}], indirect=True)
async def test_sigterm_hands_back_a_job_still_running_at_the_drain_timeout(
    resources: Resources, settings: Settings, tmp_path: Path
) -> None:
    video_id, job = await long_ingest_job(resources, tmp_path)
    proc = start_worker_process(settings, tmp_path / "worker.log")
    try:
        await wait_until_midway(resources, job.id)
        proc.send_signal(signal.SIGTERM)
        # The drain timeout plus at most the end of a long poll under way.
        assert await wait_exit(proc, 0.5 + settings.worker_wait_time_s + 5) == 0
    finally:
        stop(proc)
    assert (await get_job(resources, job.id)).status == "running"
    # Visible again at once, though its visibility timeout is 10 s.
    got = await resources.sqs.receive_message(
        QueueUrl=resources.queue_urls["media"], WaitTimeSeconds=0
    )
    messages = got.get("Messages", [])
    assert [m["Body"] for m in messages] == [
        encode_message(JobMessage(job_id=str(job.id), type="ingest", request_id=job.request_id))
    ]
    # Another worker picks it up and ingests the whole video.
    await resources.sqs.change_message_visibility(
        QueueUrl=resources.queue_urls["media"],
        ReceiptHandle=messages[0]["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    async with running_worker(resources, build_role("media")):
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=60)
    await assert_ingested_once(resources, video_id, done)
