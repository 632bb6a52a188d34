"""Propagated masks on their way to storage: buffered per object, written to S3 as one chunk per
object every ``chunk_frames`` frames, then indexed in PostgreSQL, so what a job has produced is
stored as it goes and survives a cancel or a crash up to the last chunk."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping

import asyncpg
import structlog

from roto.masks import rle
from roto.masks.schemas import FrameMask
from roto.masks.storage import chunk_key, encode_chunk
from roto.propagations.repository import MaskIndexRow, upsert_propagated_masks
from roto.resources import Resources
from roto_gpu.jobs.track_store import encode_track_chunk, track_key
from roto_gpu.tracking.requests import TrackRecord

log = structlog.get_logger(__name__)

#: Frames per chunk: small enough that the index trails the live events by about a second on a
#: GPU, large enough that a long video is a few hundred S3 objects per object, not thousands.
CHUNK_FRAMES = 16


class ChunkWriter:
    """Buffers one job's masks and stores them chunk by chunk, each with the track records of its
    frames beside it; ``written`` counts stored masks.

    Chunk keys carry the job's attempt, so a redelivered job never overwrites a chunk that index
    rows of its dead attempt may still point at; its rows move to the new chunks as it goes.
    """

    def __init__(
        self,
        resources: Resources,
        video_id: uuid.UUID,
        job_id: uuid.UUID,
        attempt: int,
        chunk_frames: int | None = None,
    ) -> None:
        self._resources = resources
        self._video_id = video_id
        self._job_id = job_id
        self._key_id = f"{job_id}-{attempt}"
        self._chunk_frames = chunk_frames or CHUNK_FRAMES
        self._buffer: dict[int, list[FrameMask]] = {}
        self._records: dict[int, dict[int, TrackRecord]] = {}  # object -> frame -> record
        self._keyframes: dict[int, dict[int, str]] = {}  # object -> keyframe -> state key
        self._frames = 0
        self._gone: set[int] = set()
        self.written = 0

    def runs_keyframes(self, keyframes: dict[int, dict[int, str]]) -> None:
        """The keyframe states (object -> keyframe -> state key) that the frames added next were
        tracked from; stored with their records."""
        self._keyframes.update(keyframes)

    async def add(
        self, masks: list[FrameMask], records: Mapping[int, TrackRecord] | None = None
    ) -> None:
        """One frame's masks and their track records (object id -> record); a full buffer is
        stored before this returns."""
        for mask in masks:
            if mask.object_id not in self._gone:
                self._buffer.setdefault(mask.object_id, []).append(mask)
                record = (records or {}).get(mask.object_id)
                if record is not None:
                    objects = self._records.setdefault(mask.object_id, {})
                    objects[mask.frame_index] = record
        self._frames += 1
        if self._frames >= self._chunk_frames:
            await self.flush()

    async def flush(self) -> None:
        """Store every buffered mask: each object's chunk to S3, then its index rows."""
        buffer, self._buffer, self._frames = self._buffer, {}, 0
        records, self._records = self._records, {}
        for object_id, masks in buffer.items():
            await self._store(object_id, masks, records.get(object_id, {}))

    async def _store(
        self, object_id: int, masks: list[FrameMask], records: dict[int, TrackRecord]
    ) -> None:
        resources = self._resources
        start = min(mask.frame_index for mask in masks)
        key = chunk_key(self._video_id, object_id, self._key_id, start)
        bucket = resources.settings.s3_bucket
        if records:
            data = await asyncio.to_thread(
                encode_track_chunk, records, self._keyframes.get(object_id, {})
            )
            await resources.s3.put_object(
                Bucket=bucket, Key=track_key(key), Body=data, ContentType="application/octet-stream"
            )
        await resources.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=encode_chunk(masks),
            ContentType="application/json",
        )
        rows = [
            MaskIndexRow(m.object_id, m.frame_index, m.score, rle.area(m.rle), key) for m in masks
        ]
        try:
            async with resources.pool.acquire() as conn, conn.transaction():
                await upsert_propagated_masks(conn, self._video_id, self._job_id, rows)
        except asyncpg.ForeignKeyViolationError:
            # The object was deleted while the job ran: the other objects' masks still count.
            log.info("propagation_object_deleted", object_id=object_id)
            self._gone.add(object_id)
            return
        self.written += len(rows)
