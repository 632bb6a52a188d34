"""The propagate job end to end: a message on the batch queue, the gpu role in this process with
real SAM2 (tiny, random weights, 256 px, CPU), frames as JPEGs in moto's S3, prompts, spans and
the masks index in PostgreSQL, masks chunks in S3 and ``masks`` events on Redis."""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from typing import Any

import msgspec
import numpy as np
import pytest

import roto_gpu.jobs.mask_chunks
from roto.emf import MetricLog
from roto.jobs import repository as jobs_repo
from roto.masks import rle
from roto.masks.storage import chunk_key
from roto.resources import Resources, open_resources
from roto.settings import Settings
from roto_gpu.jobs.track_store import state_key
from tests.gpu.propagate_support import (
    PROMPT_SCORE,
    chunk_keys,
    chunk_masks,
    enqueue_propagate,
    job_frames,
    keyframe,
    mask_rows,
)
from tests.gpu.propagation_support import video_frames
from tests.gpu.support import add_object, daemon_with, ready_clip, running_daemon
from tests.worker.support import get_job, job_events, wait_for, wait_for_status

pytestmark = pytest.mark.slow

TERMINAL = {"succeeded", "failed", "canceled"}


@pytest.fixture(scope="module")
def clip_frames(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    return video_frames(tmp_path_factory.mktemp("propagate"), 12, width=160, height=96)


async def test_job_stores_every_frame_in_chunks_and_streams_masks_in_order(
    resources: Resources,
    shared_model: Any,
    clip_frames: list[np.ndarray],
    s3_sync: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(roto_gpu.jobs.mask_chunks, "CHUNK_FRAMES", 4)
    frames = clip_frames[:10]
    clip = await ready_clip(resources, frames)
    for object_id in (1, 2):
        await add_object(resources, clip, object_id)
    await keyframe(resources, clip, 1, 0, points=[[40, 48]])
    await keyframe(resources, clip, 2, 0, box=[0, 0, 80, 60])
    await keyframe(resources, clip, 2, 6, points=[[120, 40]])
    # The state of a prompt deleted before this job: the job's sweep removes it.
    bucket = resources.settings.s3_bucket
    undone_state = state_key(clip.video_id, 1, 0, uuid.uuid4())
    s3_sync.put_object(Bucket=bucket, Key=undone_state, Body=b"state")
    job = await enqueue_propagate(resources, clip, [1, 2], 0, 9)
    daemon = daemon_with(shared_model)
    cloud = io.StringIO()
    metered = dataclasses.replace(resources, metrics=MetricLog("test", enabled=True, stream=cloud))
    async with job_events(resources, job.id) as log, running_daemon(metered, daemon):
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=120)

    assert done.status == "succeeded", (done.error_code, done.error_message)
    # Frame 0 is every object's keyframe: nothing to compute there.
    assert done.result == {"frames_processed": 9, "masks_written": 17}
    # CloudWatch (EMF): the frames stored add up; each model call reports its batch size.
    metrics = [json.loads(line) for line in cloud.getvalue().splitlines()]
    assert sum(m.get("FramesPropagated", 0) for m in metrics) == 9
    batches = [m["BatchSize"] for m in metrics if "BatchSize" in m]
    assert batches and all(size >= 1 for size in batches)
    assert (done.progress_done, done.progress_total) == (9, 9)
    events = log.of_kind("masks")
    assert [event["frame_index"] for event in events] == list(range(1, 10))
    for event in events:
        frame = event["frame_index"]
        expected = [o for o, keys in ((1, {0}), (2, {0, 6})) if frame not in keys]
        assert [m["object_id"] for m in event["masks"]] == expected
        assert all(
            m["source"] == "propagation" and m["frame_index"] == frame for m in event["masks"]
        )
    assert log.of_kind("progress")[-1] == {"done": 9, "total": 9}

    assert s3_sync.list_objects_v2(Bucket=bucket, Prefix=undone_state)["KeyCount"] == 0

    rows = await mask_rows(resources, clip.video_id)
    assert [(r.object_id, r.frame_index) for r in rows] == [
        (o, f) for o in (1, 2) for f in range(10)
    ]
    for row in rows:
        if (row.object_id, row.frame_index) in {(1, 0), (2, 0), (2, 6)}:
            assert (row.source, row.score, row.job_id) == ("prompt", PROMPT_SCORE, None)
            continue
        assert (row.source, row.job_id) == ("propagation", job.id)
        stored = chunk_masks(s3_sync, bucket, row.storage_key)[(row.object_id, row.frame_index)]
        assert stored.rle.size == [96, 160]
        assert rle.area(stored.rle) == row.area
        assert abs(stored.score - row.score) < 1e-6
        event = events[row.frame_index - 1]["masks"]
        sent = next(m for m in event if m["object_id"] == row.object_id)
        assert sent["rle"]["counts"] == stored.rle.counts
    # Four frames per chunk: written as the job went, not all at its end.
    keys = {row.storage_key for row in rows if row.source == "propagation"}
    assert keys == {
        chunk_key(clip.video_id, o, f"{job.id}-1", start)
        for o, start in [(1, 1), (1, 5), (1, 9), (2, 1), (2, 5), (2, 9)]
    }


async def test_cancel_stops_within_a_frame_and_keeps_what_is_done(
    resources: Resources, shared_model: Any, clip_frames: list[np.ndarray], tmp_path: Any
) -> None:
    frames = video_frames(tmp_path, 40, width=160, height=96)
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip, 1)
    await keyframe(resources, clip, 1, 0, points=[[40, 48]])
    job = await enqueue_propagate(resources, clip, [1], 0, 39)
    daemon = daemon_with(shared_model)
    async with job_events(resources, job.id) as log, running_daemon(resources, daemon) as runtime:
        await wait_for(lambda: _has_events(log, 3), 120, "three frames")
        async with resources.pool.acquire() as conn:
            assert await jobs_repo.cancel_job(conn, job.id, clip.user_id) is not None
        at_cancel = len(log.of_kind("masks"))
        await wait_for(lambda: _idle(runtime), 60, "the job to stop")
    frames_done = [event["frame_index"] for event in log.of_kind("masks")]
    # The frame in flight when the cancel landed may finish (and one event may still have been
    # on its way from Redis when counted); nothing after it starts.
    assert len(frames_done) <= at_cancel + 2
    assert frames_done == list(range(1, len(frames_done) + 1))
    assert len(frames_done) < 20
    assert (await get_job(resources, job.id)).status == "canceled"
    rows = await mask_rows(resources, clip.video_id)
    assert sorted(job_frames(rows, job.id)) == [(1, f) for f in frames_done]


async def _has_events(log: Any, count: int) -> bool:
    return len(log.of_kind("masks")) >= count


async def _idle(runtime: Any) -> bool:
    """The handler has let go of the job (its masks are flushed by then)."""
    return bool(runtime.in_flight == 0)


async def test_a_correction_recomputes_only_the_span_between_its_neighbouring_keyframes(
    resources: Resources, shared_model: Any, clip_frames: list[np.ndarray], s3_sync: Any
) -> None:
    clip = await ready_clip(resources, clip_frames)
    await add_object(resources, clip, 1)
    await keyframe(resources, clip, 1, 0, points=[[40, 48]])
    await keyframe(resources, clip, 1, 8, points=[[100, 48]])

    async def propagate() -> jobs_repo.JobRow:
        job = await enqueue_propagate(resources, clip, [1], 0, 11)
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=120)
        assert done.status == "succeeded", (done.error_code, done.error_message)
        return done

    async with running_daemon(resources, daemon_with(shared_model)):
        first = await propagate()
        assert first.result == {"frames_processed": 11, "masks_written": 10}
        # A new keyframe on frame 4: only frames 1..7 (between keyframes 0 and 8) are stale.
        await keyframe(resources, clip, 1, 4, points=[[70, 48]])
        second = await propagate()
        assert second.result == {"frames_processed": 7, "masks_written": 6}
        unchanged = await propagate()
        assert unchanged.result == {"frames_processed": 0, "masks_written": 0}
        # Another prompt on keyframe 8: its two neighbouring spans, 5..7 and 9..11.
        await keyframe(resources, clip, 1, 8, points=[[110, 40]])
        fourth = await propagate()
        assert fourth.result == {"frames_processed": 7, "masks_written": 6}

    rows = await mask_rows(resources, clip.video_id)
    assert len(rows) == 12
    assert job_frames(rows, first.id) == []
    assert job_frames(rows, second.id) == [(1, 1), (1, 2), (1, 3)]
    assert job_frames(rows, fourth.id) == [(1, f) for f in (5, 6, 7, 9, 10, 11)]
    assert [r.frame_index for r in rows if r.source == "prompt"] == [0, 4, 8]
    # The chunks that corrections superseded were swept, but for the one holding the first
    # job's mask of frame 4: the keyframe made there keeps it, to give it back on an undo.
    covered = await resources.pool.fetchval(
        "SELECT base_storage_key FROM masks WHERE video_id = $1 AND frame_index = 4",
        clip.video_id,
    )
    assert covered is not None and f"/{first.id}-1/" in covered
    referenced = {r.storage_key for r in rows if r.source == "propagation"} | {covered}
    assert chunk_keys(s3_sync, resources.settings.s3_bucket, clip.video_id, 1) == referenced


async def test_a_job_whose_daemon_died_midway_is_finished_by_another_without_duplicates(
    resources: Resources,
    settings: Settings,
    shared_model: Any,
    tmp_path: Any,
    s3_sync: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first daemon stops with no time to drain: its job is cut off mid-run (nothing of it
    runs after that) and its message goes back to the queue; the second runs it again."""
    monkeypatch.setattr(roto_gpu.jobs.mask_chunks, "CHUNK_FRAMES", 4)
    frames = video_frames(tmp_path, 24, width=160, height=96)
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip, 1)
    await keyframe(resources, clip, 1, 0, points=[[40, 48]])
    job = await enqueue_propagate(resources, clip, [1], 0, 23)
    abrupt = msgspec.structs.replace(settings, worker_drain_timeout_s=0.0)
    async with open_resources(abrupt) as dying, job_events(resources, job.id) as log:
        async with running_daemon(dying, daemon_with(shared_model)):
            await wait_for(lambda: _has_events(log, 6), 120, "six frames")
        cut_off = len(log.of_kind("masks"))
    half_done = await mask_rows(resources, clip.video_id)
    assert 4 <= len(job_frames(half_done, job.id)) < 23  # a chunk or more was stored

    async with running_daemon(resources, daemon_with(shared_model)):
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=120)
    assert done.status == "succeeded", (done.error_code, done.error_message)
    assert done.attempts == 2
    assert done.result == {"frames_processed": 23, "masks_written": 23}
    assert cut_off < 23
    rows = await mask_rows(resources, clip.video_id)
    assert [(r.frame_index, r.source) for r in rows] == [(0, "prompt")] + [
        (f, "propagation") for f in range(1, 24)
    ]
    bucket = resources.settings.s3_bucket
    for row in rows[1:]:
        assert row.storage_key.split("/")[-2] == f"{job.id}-2"
        assert (1, row.frame_index) in chunk_masks(s3_sync, bucket, row.storage_key)
    # The dead attempt's chunks, superseded by the second attempt's, were swept.
    assert chunk_keys(s3_sync, bucket, clip.video_id, 1) == {r.storage_key for r in rows[1:]}


async def test_both_ways_goes_forward_from_the_keyframe_then_back_in_events(
    resources: Resources, shared_model: Any, clip_frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, clip_frames[:8])
    await add_object(resources, clip, 1)
    await keyframe(resources, clip, 1, 3, points=[[80, 48]])
    job = await enqueue_propagate(resources, clip, [1], 0, 7, direction="both")
    daemon = daemon_with(shared_model)
    async with job_events(resources, job.id) as log, running_daemon(resources, daemon):
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=120)
    assert done.status == "succeeded", (done.error_code, done.error_message)
    assert done.result == {"frames_processed": 8, "masks_written": 7}
    events = log.of_kind("masks")
    assert [e["frame_index"] for e in events] == [3, 4, 5, 6, 7, 2, 1, 0]
    assert events[0]["masks"] == []  # the keyframe's mask is the prompt's, not sent again
    rows = await mask_rows(resources, clip.video_id)
    assert [(r.frame_index, r.source) for r in rows] == [
        (f, "prompt" if f == 3 else "propagation") for f in range(8)
    ]
