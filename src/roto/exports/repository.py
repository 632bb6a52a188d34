"""SQL of exports: how many masks each object has (checked at submit), and what the export job
reads about its video and objects. Mask index rows come from ``roto.masks.repository``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import msgspec


class ObjectMasks(msgspec.Struct, frozen=True):
    """An object of a video with its count of stored masks, overall and in a frame range."""

    object_id: int
    masks: int
    masks_in_range: int


class ExportObject(msgspec.Struct, frozen=True):
    object_id: int
    name: str
    color: str
    category: str = "object"


class ExportVideo(msgspec.Struct, frozen=True):
    """What an export job needs of its video."""

    id: uuid.UUID
    filename: str
    status: str
    source_key: str
    width: int | None
    height: int | None
    frame_count: int | None
    fps: float | None = None
    frame_rate: str | None = None
    timecode: str | None = None


SELECT_OBJECT_MASK_COUNTS = """
SELECT o.object_id,
       count(m.frame_index) AS masks,
       count(m.frame_index) FILTER (WHERE m.frame_index BETWEEN $2 AND $3) AS masks_in_range
FROM objects o
LEFT JOIN masks m ON m.video_id = o.video_id AND m.object_id = o.object_id
WHERE o.video_id = $1
GROUP BY o.object_id
ORDER BY o.object_id
"""
SELECT_VIDEO = """
SELECT id, filename, status, source_key, width, height, frame_count, fps, frame_rate, timecode
FROM videos
WHERE id = $1
"""
SELECT_OBJECTS = """
SELECT object_id, name, color, category
FROM objects
WHERE video_id = $1 AND object_id = ANY($2::integer[])
ORDER BY object_id
"""


async def object_mask_counts(
    conn: asyncpg.Connection, video_id: uuid.UUID, frame_start: int, frame_end: int
) -> dict[int, ObjectMasks]:
    """Every object of the video with its mask counts, by object id."""
    records = await conn.fetch(SELECT_OBJECT_MASK_COUNTS, video_id, frame_start, frame_end)
    return {r["object_id"]: msgspec.convert(dict(r), ObjectMasks) for r in records}


async def get_video(conn: asyncpg.Connection, video_id: uuid.UUID) -> ExportVideo | None:
    record = await conn.fetchrow(SELECT_VIDEO, video_id)
    return None if record is None else msgspec.convert(dict(record), ExportVideo)


async def get_objects(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_ids: Sequence[int]
) -> list[ExportObject]:
    """The named objects that still exist, by id."""
    records = await conn.fetch(SELECT_OBJECTS, video_id, list(object_ids))
    return [msgspec.convert(dict(r), ExportObject) for r in records]
