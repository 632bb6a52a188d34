"""Storing a keyframe's mask (``roto_gpu.jobs.keyframe_masks``) on real S3 (moto), Redis and
PostgreSQL: the hot copy is written alongside the S3 write, and one whose S3 write failed is
never served in place of the mask the row describes."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from roto.jobs.outbox import create_job
from roto.masks import rle
from roto.masks.loading import MaskLoader
from roto.masks.repository import get_mask
from roto.masks.schemas import FrameMask
from roto.masks.storage import decode_mask, hot_mask_key
from roto.resources import Resources
from roto_gpu.jobs.keyframe_masks import (
    index_keyframe_mask,
    keyframe_mask_object,
    put_keyframe_mask,
)
from tests.gpu.support import add_object, ready_clip


def disc_mask(height: int, width: int, radius: int, score: float) -> FrameMask:
    ys, xs = np.mgrid[:height, :width]
    pixels = (ys - height // 2) ** 2 + (xs - width // 2) ** 2 < radius**2
    return FrameMask(
        object_id=1, frame_index=2, rle=rle.encode(pixels), score=score, source="prompt"
    )


class PutRefusedOnceHotCopyIsIn:
    """The real S3 client, except that a put fails once the mask's hot copy is in Redis (so the
    failure comes after the copy, the order the test is about)."""

    def __init__(self, s3: Any, resources: Resources, hot_key: str) -> None:
        self._s3, self._resources, self._hot_key = s3, resources, hot_key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    async def put_object(self, **kwargs: Any) -> Any:
        async with asyncio.timeout(10):
            while not await self._resources.redis.exists(self._hot_key):
                await asyncio.sleep(0.01)
        raise ClientError({"Error": {"Code": "InternalError", "Message": "refused"}}, "PutObject")


async def test_a_hot_copy_whose_s3_write_failed_is_never_served(
    resources: Resources, frames: list[np.ndarray]
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    first = disc_mask(clip.height, clip.width, 30, score=0.5)
    stored = keyframe_mask_object(clip.video_id, first)
    await put_keyframe_mask(resources, stored)
    async with resources.pool.acquire() as conn, conn.transaction():
        job = await create_job(
            conn, user_id=clip.user_id, video_id=clip.video_id, job_type="segment"
        )
        await index_keyframe_mask(conn, stored, job.id)
    await resources.redis.delete(hot_mask_key(clip.video_id, 1, 2))

    second = disc_mask(clip.height, clip.width, 50, score=0.75)
    hot_key = hot_mask_key(clip.video_id, 1, 2)
    refusing = dataclasses.replace(
        resources, s3=PutRefusedOnceHotCopyIsIn(resources.s3, resources, hot_key)
    )
    with pytest.raises(ExceptionGroup) as failed:
        await put_keyframe_mask(refusing, keyframe_mask_object(clip.video_id, second))
    assert failed.group_contains(ClientError)

    hot = await resources.redis.get(hot_key)
    assert hot is not None and decode_mask(hot) == second  # the copy of the mask not stored
    async with resources.pool.acquire() as conn:
        row = await get_mask(conn, clip.video_id, 1, 2)
    assert row is not None
    loaded = await MaskLoader(resources, [clip.height, clip.width]).load([row])
    assert loaded == [first]
