"""SQL for the masks index (the RLE itself lives in S3)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import msgspec


class MaskRow(msgspec.Struct, frozen=True):
    video_id: uuid.UUID
    object_id: int
    frame_index: int
    source: str
    score: float
    area: int
    storage_key: str
    job_id: uuid.UUID | None
    updated_at: datetime


# A keyframe's mask over a propagated one keeps the propagated one as its base (see
# ``end_keyframe_mask``); over an earlier keyframe mask it keeps that one's base.
UPSERT_MASK = """
INSERT INTO masks (video_id, object_id, frame_index, source, score, area, storage_key, job_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (video_id, object_id, frame_index) DO UPDATE
SET base_score = CASE WHEN masks.source = 'propagation' THEN masks.score ELSE masks.base_score END,
    base_area = CASE WHEN masks.source = 'propagation' THEN masks.area ELSE masks.base_area END,
    base_storage_key = CASE WHEN masks.source = 'propagation' THEN masks.storage_key
                            ELSE masks.base_storage_key END,
    base_job_id = CASE WHEN masks.source = 'propagation' THEN masks.job_id
                       ELSE masks.base_job_id END,
    source = EXCLUDED.source, score = EXCLUDED.score, area = EXCLUDED.area,
    storage_key = EXCLUDED.storage_key, job_id = EXCLUDED.job_id, updated_at = now()
"""
# The frame is no longer a keyframe: the propagated mask it covered comes back, or the row goes.
# One statement (one round trip); its two parts touch disjoint rows (with a base, without).
END_KEYFRAME_MASK = """
WITH restored AS (
    UPDATE masks
    SET source = 'propagation', score = base_score, area = base_area,
        storage_key = base_storage_key, job_id = base_job_id,
        base_score = NULL, base_area = NULL, base_storage_key = NULL, base_job_id = NULL,
        updated_at = now()
    WHERE video_id = $1 AND object_id = $2 AND frame_index = $3
      AND source = 'prompt' AND base_storage_key IS NOT NULL
)
DELETE FROM masks
WHERE video_id = $1 AND object_id = $2 AND frame_index = $3
  AND source = 'prompt' AND base_storage_key IS NULL
"""
LIST_MASKS = """
SELECT video_id, object_id, frame_index, source, score, area, storage_key, job_id, updated_at
FROM masks
WHERE video_id = $1
  AND frame_index BETWEEN $2 AND $3
  AND ($4::integer[] IS NULL OR object_id = ANY($4))
ORDER BY frame_index, object_id
LIMIT $5
"""
SELECT_MASK = """
SELECT video_id, object_id, frame_index, source, score, area, storage_key, job_id, updated_at
FROM masks
WHERE video_id = $1 AND object_id = $2 AND frame_index = $3
"""
SELECT_OBJECT_MASK_FRAMES = """
SELECT frame_index FROM masks WHERE video_id = $1 AND object_id = $2 ORDER BY frame_index
"""


async def upsert_mask(
    conn: asyncpg.Connection,
    *,
    video_id: uuid.UUID,
    object_id: int,
    frame_index: int,
    source: str,
    score: float,
    area: int,
    storage_key: str,
    job_id: uuid.UUID | None,
) -> None:
    await conn.execute(
        UPSERT_MASK, video_id, object_id, frame_index, source, score, area, storage_key, job_id
    )


async def end_keyframe_mask(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frame_index: int
) -> None:
    """Put back the propagated mask a keyframe covered (or drop the row when there was none)."""
    await conn.execute(END_KEYFRAME_MASK, video_id, object_id, frame_index)


async def list_masks(
    conn: asyncpg.Connection,
    video_id: uuid.UUID,
    *,
    frame_start: int,
    frame_end: int,
    object_ids: list[int] | None,
    limit: int,
) -> list[MaskRow]:
    """Index rows of the frames in [frame_start, frame_end], in frame then object order."""
    records = await conn.fetch(LIST_MASKS, video_id, frame_start, frame_end, object_ids, limit)
    return [msgspec.convert(dict(r), MaskRow) for r in records]


async def get_mask(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frame_index: int
) -> MaskRow | None:
    record = await conn.fetchrow(SELECT_MASK, video_id, object_id, frame_index)
    return None if record is None else msgspec.convert(dict(record), MaskRow)


async def object_mask_frames(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int
) -> list[int]:
    """The frames on which an object has a stored mask, in order."""
    records = await conn.fetch(SELECT_OBJECT_MASK_FRAMES, video_id, object_id)
    return [r["frame_index"] for r in records]
