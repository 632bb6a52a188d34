"""Storing a keyframe's mask: the ``FrameMask`` JSON in S3 with its hot copy in Redis (written
alongside), and the masks row that points at it (in the transaction that finishes the job). The
segment job and the detect job store theirs this one way.

The S3 write runs alongside the transaction's statements, the row's among them: the key is known
before the object is written. The caller awaits both before its transaction commits (a
``TaskGroup`` around them), so a failed write fails the transaction and no committed row points
at a missing object.
"""

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
    video_id: uuid.UUID
    mask: FrameMask
    key: str  # where it is in S3
    data: bytes  # as stored


def keyframe_mask_object(video_id: uuid.UUID, mask: FrameMask) -> StoredMask:
    """The mask as it is stored, and where (no I/O)."""
    key = keyframe_mask_key(video_id, mask.object_id, mask.frame_index)
    return StoredMask(video_id, mask, key, encode_mask(mask))


async def put_keyframe_mask(resources: Resources, stored: StoredMask) -> None:
    """Write the mask to S3 and, alongside, its hot copy to Redis. A hot copy is served only
    while it matches the masks row (``roto.masks.loading.is_current``): one whose S3 write fails
    (the transaction then rolls back and the row stays as it was) is never read."""
    async with asyncio.TaskGroup() as group:
        group.create_task(_leave_hot_copy(resources, stored))
        await resources.s3.put_object(
            Bucket=resources.settings.s3_bucket,
            Key=stored.key,
            Body=stored.data,
            ContentType="application/json",
        )


async def _leave_hot_copy(resources: Resources, stored: StoredMask) -> None:
    mask = stored.mask
    try:
        await resources.redis.set(
            hot_mask_key(stored.video_id, mask.object_id, mask.frame_index),
            stored.data,
            ex=HOT_MASK_TTL_S,
        )
    except RedisError as exc:  # the hot copy is a shortcut; S3 and the row are the mask
        log.warning("hot_mask_not_stored", error=repr(exc))


async def index_keyframe_mask(
    conn: asyncpg.Connection, stored: StoredMask, job_id: uuid.UUID
) -> None:
    """Point the masks row at the stored mask (a propagated mask it covers is kept as its
    base)."""
    mask = stored.mask
    await upsert_mask(
        conn,
        video_id=stored.video_id,
        object_id=mask.object_id,
        frame_index=mask.frame_index,
        source=mask.source,
        score=mask.score,
        area=mask_area(mask.rle),
        storage_key=stored.key,
        job_id=job_id,
    )
