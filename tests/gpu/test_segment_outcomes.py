"""How a segment job's outcome is stored, driven one step at a time: a mask made from prompts that
changed meanwhile is not stored, and a click the model had no room for goes back to the queue."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import SEGMENT, JobMessage
from roto.masks.repository import get_mask
from roto.masks.storage import keyframe_mask_key
from roto.resources import Resources
from roto.storage import object_size
from roto.worker.contract import JobContext
from roto.worker.jobrun import Disposition, run_job
from roto.worker.receiver import Delivery
from roto_gpu.daemon import gpu_role
from roto_gpu.jobs.segment import SegmentJobs
from roto_gpu.jobs.track_store import TrackStore
from tests.gpu.support import (
    add_object,
    add_prompt,
    captured_logs,
    daemon_with,
    enqueue_segment,
    ready_clip,
)
from tests.worker.support import get_job

pytestmark = pytest.mark.slow


async def claim(resources: Resources, job_id: Any) -> jobs_repo.JobRow:
    async with resources.pool.acquire() as conn:
        job = await jobs_repo.claim_job(conn, job_id)
    assert job is not None
    return job


async def test_a_mask_whose_prompts_changed_meanwhile_is_not_stored_over_the_newer_one(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, points=[[80, 96]], labels=[1])
    daemon = daemon_with(shared_model)
    key = keyframe_mask_key(clip.video_id, 1, 0)
    bucket = resources.settings.s3_bucket
    async with daemon.serving(resources):
        jobs = SegmentJobs(daemon.engine)
        older = await claim(resources, (await enqueue_segment(resources, clip)).id)
        older_result = await jobs.run(JobContext(resources, older, JobMessage("x", "segment"), 1))
        # The artist clicks again before the first job's outcome is stored.
        await add_prompt(resources, clip, points=[[250, 40]], labels=[0])
        async with resources.pool.acquire() as conn, conn.transaction():
            await jobs.on_success(conn, older, SEGMENT.encode_result(older_result))
        async with resources.pool.acquire() as conn:
            assert await get_mask(conn, clip.video_id, 1, 0) is None
        assert await object_size(resources.s3, bucket, key) is None

        newer = await claim(resources, (await enqueue_segment(resources, clip)).id)
        newer_result = await jobs.run(JobContext(resources, newer, JobMessage("y", "segment"), 1))
        async with resources.pool.acquire() as conn, conn.transaction():
            await jobs.on_success(conn, newer, SEGMENT.encode_result(newer_result))
        async with resources.pool.acquire() as conn:
            row = await get_mask(conn, clip.video_id, 1, 0)
    assert older_result != newer_result
    assert row is not None and row.job_id == newer.id
    assert await object_size(resources.s3, bucket, key) is not None


@pytest.mark.parametrize("settings", [{"segment_deadline_s": 1e-6}], indirect=True)
async def test_a_click_the_model_had_no_room_for_is_retried_before_its_last_receive(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, points=[[80, 96]], labels=[1])
    job = await enqueue_segment(resources, clip)
    daemon = daemon_with(shared_model)
    role = gpu_role(daemon)
    message = JobMessage(str(job.id), "segment")
    url = resources.queue_urls["interactive"]
    async with daemon.serving(resources) as handlers:
        first = Delivery("interactive", url, "m-1", "r-1", "{}", receives=1)
        disposition = await run_job(resources, role.name, handlers, job.id, message, first)
        after_first = await get_job(resources, job.id)
        last = Delivery("interactive", url, "m-1", "r-3", "{}", receives=3)
        final = await run_job(resources, role.name, handlers, job.id, message, last)

    assert disposition is Disposition.RETRY
    assert after_first.status == "running"
    assert final is Disposition.DELETE
    done = await get_job(resources, job.id)
    assert (done.status, done.error_code) == ("failed", "model_busy")
    assert "deadline" in (done.error_message or "")


async def test_running_a_job_twice_stores_the_same_mask_once(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, points=[[80, 96]], labels=[1])
    daemon = daemon_with(shared_model)
    async with daemon.serving(resources):
        jobs = SegmentJobs(daemon.engine)
        job = await claim(resources, (await enqueue_segment(resources, clip)).id)
        results = []
        # As after a redelivery: the same job run again from the start, and its outcome stored.
        for attempt in (1, 2):
            ctx = JobContext(resources, job, JobMessage(str(job.id), "segment"), attempt)
            results.append(await jobs.run(ctx))
            async with resources.pool.acquire() as conn, conn.transaction():
                await jobs.on_success(conn, job, SEGMENT.encode_result(results[-1]))
    count = await resources.pool.fetchval(
        "SELECT count(*) FROM masks WHERE video_id = $1", clip.video_id
    )
    assert results[0] == results[1]
    assert count == 1


async def _click(resources: Resources, jobs: SegmentJobs, clip: Any) -> Any:
    """One segment job of ``clip``'s keyframe, run and stored; the mask it made."""
    job = await claim(resources, (await enqueue_segment(resources, clip)).id)
    ctx = JobContext(resources, job, JobMessage(str(job.id), "segment"), 1)
    result = await jobs.run(ctx)
    async with resources.pool.acquire() as conn, conn.transaction():
        await jobs.on_success(conn, job, SEGMENT.encode_result(result))
    ctx.finished.set()  # as the runtime does once the outcome is stored
    return SEGMENT.decode_result(SEGMENT.encode_result(result)).mask


def _passes(logs: list[dict[str, Any]]) -> list[int]:
    return [entry["decoded"] for entry in logs if entry["event"] == "segment_done"]


async def test_a_state_is_written_behind_the_answer_and_read_back_by_another_daemon(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, points=[[80, 96]], labels=[1])
    first = daemon_with(shared_model)
    async with first.serving(resources):
        await _click(resources, SegmentJobs(first.engine), clip)
        assert await first.engine.states.flush(30.0) == 0
    await add_prompt(resources, clip, points=[[250, 40]], labels=[0])
    second = daemon_with(shared_model)  # nothing in its memory: the state comes from S3
    with captured_logs() as logs:
        async with second.serving(resources):
            await _click(resources, SegmentJobs(second.engine), clip)
    assert _passes(logs) == [1]  # only the new prompt was decoded


async def test_a_state_whose_write_failed_is_decoded_again_to_the_same_mask(
    resources: Resources,
    shared_model: Any,
    frames: list[np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, points=[[80, 96]], labels=[1])

    async def storage_away(self: TrackStore, key: str, data: bytes) -> None:
        raise ConnectionError("S3 is away")

    monkeypatch.setattr(TrackStore, "put", storage_away)
    kept = daemon_with(shared_model)
    with captured_logs() as logs:
        async with kept.serving(resources):
            jobs = SegmentJobs(kept.engine)
            await _click(resources, jobs, clip)
            await add_prompt(resources, clip, points=[[250, 40]], labels=[0])
            from_memory = await _click(resources, jobs, clip)
    assert any(entry["event"] == "keyframe_state_not_stored" for entry in logs)
    assert _passes(logs) == [1, 1]  # the second click started from the state in memory

    # Another daemon: no state in memory, none in S3. It encodes the frame itself (Redis's
    # float16 copy of the features would be a difference of its own).
    async for key in resources.redis.scan_iter(match="roto:emb:*"):
        await resources.redis.delete(key)
    other = daemon_with(shared_model)
    with captured_logs() as logs:
        async with other.serving(resources):
            decoded_again = await _click(resources, SegmentJobs(other.engine), clip)
    assert _passes(logs) == [2]  # both prompts decoded again, in order
    assert decoded_again == from_memory
