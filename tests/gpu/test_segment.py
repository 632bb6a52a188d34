"""The segment job end to end: a message on the interactive queue, the gpu role in this process
with real SAM2 (tiny, random weights, 256 px, CPU), frames as JPEGs in moto's S3, prompts and
masks in PostgreSQL, embeddings and hot masks in Redis."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from roto.masks import rle
from roto.masks.repository import get_mask
from roto.masks.storage import decode_mask, hot_mask_key, keyframe_mask_key
from roto.resources import Resources
from roto_gpu.model.prompts import KeyframeRequest
from tests.gpu.conftest import SOURCE_HEIGHT, SOURCE_WIDTH
from tests.gpu.support import (
    TERMINAL,
    add_object,
    add_prompt,
    counter,
    daemon_with,
    enqueue_segment,
    ready_clip,
    result_mask,
    running_daemon,
    segment,
)
from tests.worker.support import (
    create_user,
    enqueue_job,
    queue_counts,
    wait_for,
    wait_for_status,
)

pytestmark = pytest.mark.slow

# Masks from a float16 round trip of the embedding (Redis) against the float32 original.
MIN_IOU = 0.99
NO_CACHE = {"embedding_cache_max_entries": 0, "embedding_local_entries": 0}


async def test_click_becomes_a_mask_at_source_resolution_stored_in_s3_postgres_and_redis(
    resources: Resources, shared_model: Any, frames: list[np.ndarray], s3_sync: Any
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, frame_index=2, points=[[100, 90]], labels=[1])
    daemon = daemon_with(shared_model)
    async with running_daemon(resources, daemon):
        job = await segment(resources, clip, frame_index=2)
        await wait_for(
            lambda: _queue_empty(resources), 10, "the message to be deleted from its queue"
        )

    mask = result_mask(job)
    assert (mask.object_id, mask.frame_index, mask.source) == (1, 2, "prompt")
    assert mask.rle.size == [SOURCE_HEIGHT, SOURCE_WIDTH]
    assert 0.0 <= mask.score <= 1.0
    pixels = coco_mask.decode({"size": mask.rle.size, "counts": mask.rle.counts.encode()})
    assert pixels.shape == (SOURCE_HEIGHT, SOURCE_WIDTH)

    key = keyframe_mask_key(clip.video_id, 1, 2)
    stored = decode_mask(
        s3_sync.get_object(Bucket=resources.settings.s3_bucket, Key=key)["Body"].read()
    )
    hot = await resources.redis.get(hot_mask_key(clip.video_id, 1, 2))
    assert stored == mask
    assert hot is not None and decode_mask(hot) == mask
    assert await resources.redis.ttl(hot_mask_key(clip.video_id, 1, 2)) > 0

    async with resources.pool.acquire() as conn:
        row = await get_mask(conn, clip.video_id, 1, 2)
    assert row is not None
    assert (row.source, row.storage_key, row.job_id) == ("prompt", key, job.id)
    assert row.area == int(pixels.sum())
    assert row.score == pytest.approx(mask.score, abs=1e-6)


@pytest.mark.parametrize("settings", [NO_CACHE], indirect=True)
async def test_the_same_prompts_twice_give_the_same_mask(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, points=[[60, 40], [200, 150]], labels=[1, 0])
    daemon = daemon_with(shared_model)
    async with running_daemon(resources, daemon):
        first = result_mask(await segment(resources, clip))
        second = result_mask(await segment(resources, clip))
        encodes = counter(daemon, "encode")

    # No cache, yet one encoder pass: the second job finds the prompt's state stored and
    # renders it, to the same mask.
    assert encodes == 1
    assert first == second


async def test_a_second_click_on_a_frame_does_not_run_the_encoder_again(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, frame_index=1, points=[[80, 96]], labels=[1])
    daemon = daemon_with(shared_model)
    async with running_daemon(resources, daemon):
        first = result_mask(await segment(resources, clip, frame_index=1))
        assert counter(daemon, "encode") == 1
        await add_prompt(resources, clip, frame_index=1, points=[[250, 40]], labels=[0])
        second = result_mask(await segment(resources, clip, frame_index=1))
        assert counter(daemon, "encode") == 1
        # The second click refines the first one's stored state: one more decoder pass.
        assert counter(daemon, "keyframe") == 2
    # The second click's two points give another mask, from the same embedding.
    assert first.rle != second.rle

    # A daemon with nothing in memory (another process) finds both prompts' states stored:
    # the keyframe is rendered from them, with no encoder or decoder pass, to the same mask.
    other = daemon_with(shared_model)
    async with running_daemon(resources, other):
        again = result_mask(await segment(resources, clip, frame_index=1))
        assert counter(other, "encode") == 0
        assert counter(other, "keyframe") == 0
    assert again.rle == second.rle
    assert again.score == second.score


@pytest.mark.parametrize("settings", [{"worker_concurrency": 4}], indirect=True)
async def test_concurrent_clicks_on_one_frame_share_one_encoder_pass(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, frames)
    for object_id, point in ((1, [80, 96]), (2, [250, 40])):
        await add_object(resources, clip, object_id)
        await add_prompt(resources, clip, object_id=object_id, points=[point], labels=[1])
    # Both queued before the daemon starts, so that its first receive takes both at once.
    queued = [await enqueue_segment(resources, clip, object_id=n) for n in (1, 2)]
    daemon = daemon_with(shared_model)
    async with running_daemon(resources, daemon):
        jobs = [await wait_for_status(resources, job.id, TERMINAL, 120) for job in queued]
        encodes = counter(daemon, "encode")
        decodes = counter(daemon, "keyframe")

    assert [result_mask(job).object_id for job in jobs] == [1, 2]
    assert (encodes, decodes) == (1, 2)
    started = sorted(job.started_at for job in jobs if job.started_at)
    finished = sorted(job.finished_at for job in jobs if job.finished_at)
    assert started[1] < finished[0]  # they ran at the same time


async def test_prompts_of_a_keyframe_are_decoded_in_order_each_refining_the_last(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    """As SAM2's video predictor takes them: clicks add to the frame's points, a box starts the
    points over with its corners first, and each prompt is decoded with the mask before it."""
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, points=[[80, 96]], labels=[1], box=[0, 0, 100, 100])
    await add_prompt(resources, clip, points=[[250, 40]], labels=[0], box=[40, 50, 200, 150])
    await add_prompt(resources, clip, points=[[150, 120]], labels=[1])
    daemon = daemon_with(shared_model)
    async with running_daemon(resources, daemon):
        mask = result_mask(await segment(resources, clip))

    (embedding,) = shared_model.encode_images([clip.pixels[0]])
    steps = [
        ([[0, 0], [100, 100], [80, 96]], [2, 3, 1]),
        ([[40, 50], [200, 150], [250, 40]], [2, 3, 0]),
        ([[40, 50], [200, 150], [250, 40], [150, 120]], [2, 3, 0, 1]),
    ]
    previous = None
    for points, labels in steps:
        request = KeyframeRequest(
            embedding,
            points=np.array(points, dtype=np.float64),
            labels=np.array(labels),
            prev_logits=previous,
        )
        (result,) = shared_model.decode_keyframes([request])
        previous = result.state.pred_masks
    (all_at_once,) = shared_model.decode_keyframes(
        [
            KeyframeRequest(
                embedding, points=np.array(steps[2][0], float), labels=np.array(steps[2][1])
            )
        ]
    )
    assert np.array_equal(rle.decode(mask.rle), result.mask)
    assert not np.array_equal(result.mask, all_at_once.mask)


async def test_a_keyframe_without_prompts_fails_with_no_prompts(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    daemon = daemon_with(shared_model)
    async with running_daemon(resources, daemon):
        job = await segment(resources, clip)
        await wait_for(lambda: _queue_empty(resources), 10, "the message to be deleted")
        encodes = counter(daemon, "encode")

    assert (job.status, job.error_code) == ("failed", "no_prompts")
    assert encodes == 0


async def test_a_frame_past_the_end_fails_with_frame_out_of_range(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, frame_index=len(frames), points=[[5, 5]], labels=[1])
    async with running_daemon(resources, daemon_with(shared_model)):
        job = await segment(resources, clip, frame_index=len(frames))

    assert (job.status, job.error_code) == ("failed", "frame_out_of_range")


async def test_a_job_for_a_video_that_is_gone_fails_with_video_not_found(
    resources: Resources, shared_model: Any
) -> None:
    user_id = await create_user(resources)
    payload = {"video_id": str(uuid.uuid4()), "object_id": 1, "frame_index": 0}
    async with running_daemon(resources, daemon_with(shared_model)):
        job = await enqueue_job(resources, user_id, job_type="segment", payload=payload)
        done = await wait_for_status(resources, job.id, {"succeeded", "failed"}, timeout_s=60)

    assert (done.status, done.error_code) == ("failed", "video_not_found")


@pytest.mark.parametrize(
    "settings", [{"segment_deadline_s": 1e-6, "worker_max_receives": 1}], indirect=True
)
async def test_a_click_the_model_cannot_start_in_time_fails_as_model_busy(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, points=[[80, 96]], labels=[1])
    daemon = daemon_with(shared_model)
    async with running_daemon(resources, daemon):
        job = await enqueue_segment(resources, clip)
        done = await wait_for_status(resources, job.id, {"succeeded", "failed"}, timeout_s=60)
        expired = counter(daemon, "encode", "deadline")

    assert (done.status, done.error_code) == ("failed", "model_busy")
    assert "deadline" in (done.error_message or "")
    assert expired == 1


async def _queue_empty(resources: Resources) -> bool:
    return await queue_counts(resources, "interactive") == (0, 0)
