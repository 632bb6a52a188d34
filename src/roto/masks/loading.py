"""Reading stored masks for index rows: the Redis hot copy when it is there and current, else the
S3 object the row points at (a keyframe file, or a chunk of propagated frames, read once)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import structlog
from botocore.exceptions import BotoCoreError, ClientError
from redis.exceptions import RedisError

from roto.errors import ServiceUnavailable
from roto.masks import storage
from roto.masks.repository import MaskRow
from roto.masks.schemas import FrameMask
from roto.resources import Resources
from roto.storage import object_bytes

log = structlog.get_logger(__name__)

#: S3 reads in flight at once for one request.
S3_CONCURRENCY = 16
#: The index keeps scores as float4; a hot copy whose score differs by more is from another run.
SCORE_TOLERANCE = 1e-6
MaskId = tuple[int, int]  # (object_id, frame_index)


def stored_masks(raw: bytes) -> list[FrameMask]:
    """The masks in one stored object: a keyframe's ``FrameMask`` or a chunk's list of them."""
    if raw.lstrip()[:1] == b"[":
        return storage.decode_chunk(raw)
    return [storage.decode_mask(raw)]


def is_current(hot: FrameMask, row: MaskRow) -> bool:
    """Whether a hot copy is the mask the index row describes (not one it has replaced)."""
    return (
        hot.object_id == row.object_id
        and hot.frame_index == row.frame_index
        and hot.source == row.source
        and abs(hot.score - row.score) <= SCORE_TOLERANCE
    )


class MaskLoader:
    """Loads masks for one request; each S3 object is read at most once per loader."""

    def __init__(self, resources: Resources, size: list[int]) -> None:
        self._resources = resources
        self._size = size
        self._objects: dict[str, dict[MaskId, FrameMask]] = {}

    async def load(self, rows: list[MaskRow]) -> list[FrameMask]:
        """The masks of ``rows`` in their order; one that cannot be found is left out (logged)."""
        hot = await self._hot_copies(rows)
        cold = [row for row in rows if (row.object_id, row.frame_index) not in hot]
        await self._read_objects({row.storage_key for row in cold} - self._objects.keys())
        masks = []
        for row in rows:
            mask_id = (row.object_id, row.frame_index)
            found = hot.get(mask_id) or self._objects.get(row.storage_key, {}).get(mask_id)
            if found is None or found.rle.size != self._size:
                log.warning(
                    "mask_unreadable",
                    video_id=str(row.video_id),
                    object_id=row.object_id,
                    frame_index=row.frame_index,
                    storage_key=row.storage_key,
                    size=None if found is None else found.rle.size,
                )
                continue
            masks.append(
                FrameMask(
                    object_id=row.object_id,
                    frame_index=row.frame_index,
                    rle=found.rle,
                    score=found.score,
                    source=row.source,  # type: ignore[arg-type]
                )
            )
        return masks

    async def _hot_copies(self, rows: list[MaskRow]) -> dict[MaskId, FrameMask]:
        if not rows:
            return {}
        keys = [storage.hot_mask_key(r.video_id, r.object_id, r.frame_index) for r in rows]
        try:
            values: list[Any] = await self._resources.redis.mget(keys)
        except (RedisError, OSError) as exc:
            # Losing Redis loses speed, never data: every mask is in S3 as well.
            log.warning("mask_hot_copies_unavailable", error=repr(exc))
            return {}
        found = {}
        for row, raw in zip(rows, values, strict=True):
            if raw is None:
                continue
            try:
                hot = storage.decode_mask(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if is_current(hot, row):
                found[(row.object_id, row.frame_index)] = hot
        return found

    async def _read_objects(self, keys: set[str]) -> None:
        limit = asyncio.Semaphore(S3_CONCURRENCY)

        async def read(key: str) -> None:
            async with limit:
                raw = await self._get(key)
            masks = []
            if raw is not None:
                try:
                    masks = stored_masks(raw)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    log.warning("mask_object_undecodable", storage_key=key, error=str(exc))
            self._objects[key] = {(m.object_id, m.frame_index): m for m in masks}

        # Every read runs to its end before a failure is raised, so none outlives the request.
        outcomes = await asyncio.gather(
            *(read(key) for key in sorted(keys)), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _get(self, key: str) -> bytes | None:
        try:
            return await object_bytes(self._resources.s3, self._resources.settings.s3_bucket, key)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise ServiceUnavailable("storage is unavailable; try again") from exc
