"""Prompts: stored as keyframe inputs, a segment job each, and the mask when it comes in time.

The daemon step is played by ``tests.objects.fake_daemon`` (a stand-in, not SAM2); the real
daemon's end-to-end tests are in tests/gpu/.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from roto.jobs.contracts import JOB_QUEUES
from roto.masks import rle, storage
from roto.masks.schemas import Rle
from roto.settings import Settings
from tests.objects.fake_daemon import SCORE, disc, fake_daemon
from tests.objects.helpers import (
    HEIGHT,
    WIDTH,
    click,
    count_rows,
    fetch_value,
    s3_keys,
    video_with_object,
)
from tests.videos.helpers import receive_job_messages


async def test_prompt_answers_200_with_the_mask_when_it_is_ready_in_time(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await video_with_object(client, headers, settings)
    async with fake_daemon(settings, sqs_sync, s3_sync):
        response = await client.post(
            f"/v1/videos/{video_id}/prompts", json=click(1, 3, 40, 30), headers=headers
        )

    assert response.status_code == 200, response.text
    body = response.json()
    job, mask = body["job"], body["mask"]
    assert (job["type"], job["status"], job["video_id"]) == ("segment", "succeeded", video_id)
    assert job["result"]["mask"] == mask
    assert (mask["object_id"], mask["frame_index"], mask["source"]) == (1, 3, "prompt")
    assert mask["score"] == SCORE
    assert mask["rle"]["size"] == [HEIGHT, WIDTH]
    decoded = rle.decode(Rle(**mask["rle"]))
    assert decoded.shape == (HEIGHT, WIDTH)
    assert np.array_equal(decoded, disc(HEIGHT, WIDTH, 40, 30))
    assert await count_rows(settings, "prompts", video_id, object_id=1, frame_index=3) == 1


async def test_segment_job_carries_the_contract_payload_on_the_interactive_queue(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, sqs_sync: Any
) -> None:
    video_id = await video_with_object(client, headers, settings)
    response = await client.post(
        f"/v1/videos/{video_id}/prompts",
        params={"wait": 0},
        json=click(1, 5, 10, 10),
        headers=headers,
    )
    job_id = response.json()["job"]["id"]

    messages = await receive_job_messages(sqs_sync, settings.queue_interactive, expect=1)
    payload = await fetch_value(
        settings, "SELECT payload FROM jobs WHERE id = $1", uuid.UUID(job_id)
    )
    assert JOB_QUEUES["segment"] == "interactive"
    assert [(m.job_id, m.type) for m in messages] == [(job_id, "segment")]
    assert payload == {
        "video_id": video_id,
        "object_id": 1,
        "frame_index": 5,
        "prompt_id": response.json()["prompt"]["id"],
    }


async def test_mode_replace_drops_earlier_prompts_on_that_frame_only(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await video_with_object(client, headers, settings)
    path = f"/v1/videos/{video_id}/prompts"
    async with fake_daemon(settings, sqs_sync, s3_sync):
        await client.post(path, json=click(1, 2, 20, 20), headers=headers)
        await client.post(path, json=click(1, 4, 20, 20), headers=headers)
        added = await client.post(path, json=click(1, 2, 90, 50, mode="add"), headers=headers)
        prompts_after_add = await count_rows(settings, "prompts", video_id, frame_index=2)
        replaced = await client.post(
            path, json=click(1, 2, 90, 50, mode="replace"), headers=headers
        )

    assert prompts_after_add == 2
    assert await count_rows(settings, "prompts", video_id, frame_index=2) == 1
    assert await count_rows(settings, "prompts", video_id, frame_index=4) == 1
    # The stand-in circles the oldest positive click: (20, 20) after add, (90, 50) after replace.
    added_mask = rle.decode(Rle(**added.json()["mask"]["rle"]))
    replaced_mask = rle.decode(Rle(**replaced.json()["mask"]["rle"]))
    assert np.array_equal(added_mask, disc(HEIGHT, WIDTH, 20, 20))
    assert np.array_equal(replaced_mask, disc(HEIGHT, WIDTH, 90, 50))


async def test_a_box_alone_is_a_prompt(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await video_with_object(client, headers, settings)
    body = {"object_id": 1, "frame_index": 1, "box": [10, 20, 50, 40]}
    async with fake_daemon(settings, sqs_sync, s3_sync):
        response = await client.post(f"/v1/videos/{video_id}/prompts", json=body, headers=headers)

    assert response.status_code == 200, response.text
    stored = await fetch_value(
        settings, "SELECT box FROM prompts WHERE video_id = $1", uuid.UUID(video_id)
    )
    assert stored == [10, 20, 50, 40]
    assert rle.decode(Rle(**response.json()["mask"]["rle"]))[30, 30]


async def test_the_mask_is_stored_in_s3_the_index_and_redis(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await video_with_object(client, headers, settings)
    async with fake_daemon(settings, sqs_sync, s3_sync):
        response = await client.post(
            f"/v1/videos/{video_id}/prompts", json=click(1, 7, 60, 60), headers=headers
        )
    mask = response.json()["mask"]
    key = storage.keyframe_mask_key(video_id, 1, 7)
    redis = aioredis.from_url(settings.redis_url)
    try:
        hot = await redis.get(storage.hot_mask_key(video_id, 1, 7))
    finally:
        await redis.aclose()

    assert s3_keys(s3_sync, settings.s3_bucket, f"videos/{video_id}/masks/") == [key]
    assert await count_rows(settings, "masks", video_id, object_id=1, frame_index=7) == 1
    assert isinstance(hot, bytes) and storage.decode_mask(hot).rle.counts == mask["rle"]["counts"]
