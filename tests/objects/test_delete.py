"""Deleting an object takes its prompts, its mask rows, its stored masks and hot copies along."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from roto.masks import storage
from roto.settings import Settings
from tests.objects.fake_daemon import fake_daemon
from tests.objects.helpers import click, count_rows, new_object, ready_video, s3_keys


async def _hot_copies(settings: Settings, video_id: str, object_id: int, frames: list[int]) -> int:
    redis = aioredis.from_url(settings.redis_url)
    try:
        keys = [storage.hot_mask_key(video_id, object_id, frame) for frame in frames]
        return int(await redis.exists(*keys))
    finally:
        await redis.aclose()


async def test_deleting_an_object_deletes_its_prompts_masks_storage_and_hot_copies(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await ready_video(client, headers, settings)
    await new_object(client, headers, video_id)
    await new_object(client, headers, video_id)
    path = f"/v1/videos/{video_id}/prompts"
    async with fake_daemon(settings, sqs_sync, s3_sync):
        for object_id, frame in [(1, 0), (1, 4), (2, 0)]:
            made = await client.post(path, json=click(object_id, frame, 9, 9), headers=headers)
            assert made.status_code == 200, made.text
    # A chunk of propagated masks also lives under the object's prefix.
    chunk = storage.chunk_key(video_id, 1, "00000000-0000-0000-0000-000000000000", 5)
    s3_sync.put_object(Bucket=settings.s3_bucket, Key=chunk, Body=b"[]")
    bucket = settings.s3_bucket
    assert len(s3_keys(s3_sync, bucket, storage.object_masks_prefix(video_id, 1))) == 3
    assert await _hot_copies(settings, video_id, 1, [0, 4]) == 2

    response = await client.delete(f"/v1/videos/{video_id}/objects/1", headers=headers)

    assert response.status_code == 204
    assert await count_rows(settings, "prompts", video_id, object_id=1) == 0
    assert await count_rows(settings, "masks", video_id, object_id=1) == 0
    assert s3_keys(s3_sync, bucket, storage.object_masks_prefix(video_id, 1)) == []
    assert await _hot_copies(settings, video_id, 1, [0, 4]) == 0
    # The other object keeps everything.
    assert await count_rows(settings, "prompts", video_id, object_id=2) == 1
    assert await count_rows(settings, "masks", video_id, object_id=2) == 1
    assert s3_keys(s3_sync, bucket, storage.object_masks_prefix(video_id, 2)) == [
        storage.keyframe_mask_key(video_id, 2, 0)
    ]
    assert await _hot_copies(settings, video_id, 2, [0]) == 1
    masks = await client.get(f"/v1/videos/{video_id}/masks", headers=headers)
    assert [m["object_id"] for f in masks.json()["frames"] for m in f["masks"]] == [2]
    again = await client.delete(f"/v1/videos/{video_id}/objects/1", headers=headers)
    assert again.status_code == 404
