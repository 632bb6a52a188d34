"""Storing a keyframe's mask: the ``FrameMask`` JSON in S3, the masks row that points at it (in
the transaction that finishes the job), and the Redis hot copy. The segment job and the detect
job store theirs this one way."""

from __future__ import annotations

import asyncio
import uuid
from typing import NamedTuple

import asyncpg
import structlog
from redis.exceptions import RedisError

from roto.masks.repository import upsert_mask
from roto.masks.rle import area as mask_area
from roto.masks.schemas import FrameMask
from roto.masks.storage import HOT_MASK_TTL_S, encode_mask, hot_mask_key, keyframe_mask_key
from roto.resources import Resources

log = structlog.get_logger(__name__)


class StoredMask(NamedTuple):
    mask: FrameMask
    key: str  # where it is in S3
    data: bytes  # as stored


async def put_keyframe_mask(
    resources: Resources, video_id: uuid.UUID, mask: FrameMask
) -> StoredMask:
    """Write the mask to its keyframe key in S3."""
    key = keyframe_mask_key(video_id, mask.object_id, mask.frame_index)
    data = encode_mask(mask)
    await resources.s3.put_object(
        Bucket=resources.settings.s3_bucket, Key=key, Body=data, ContentType="application/json"
    )
    return StoredMask(mask, key, data)


async def index_keyframe_mask(
    conn: asyncpg.Connection,
    resources: Resources,
    video_id: uuid.UUID,
    stored: StoredMask,
    job_id: uuid.UUID,
) -> None:
    """Point the masks row at the stored mask (a propagated mask it covers is kept as its base),
    and leave the hot copy in Redis meanwhile."""
    mask = stored.mask
    async with asyncio.TaskGroup() as group:
        group.create_task(_leave_hot_copy(resources, video_id, stored))
        await upsert_mask(
            conn,
            video_id=video_id,
            object_id=mask.object_id,
            frame_index=mask.frame_index,
            source=mask.source,
            score=mask.score,
            area=mask_area(mask.rle),
            storage_key=stored.key,
            job_id=job_id,
        )


async def _leave_hot_copy(resources: Resources, video_id: uuid.UUID, stored: StoredMask) -> None:
    mask = stored.mask
    try:
        await resources.redis.set(
            hot_mask_key(video_id, mask.object_id, mask.frame_index),
            stored.data,
            ex=HOT_MASK_TTL_S,
        )
    except RedisError as exc:  # the hot copy is a shortcut; S3 and the row are the mask
        log.warning("hot_mask_not_stored", error=repr(exc))
