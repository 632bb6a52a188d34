"""SQL of propagation: the objects and keyframes a request names, the prompts a job seeds from,
the propagated spans, and the masks index rows a job writes (never over a keyframe's mask)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import msgspec

from roto.objects.prompts_repository import PromptRow
from roto.propagations.spans import SpanRow, trim


class MaskIndexRow(msgspec.Struct, frozen=True):
    """One propagated mask's index entry; its RLE is in the chunk at ``storage_key``."""

    object_id: int
    frame_index: int
    score: float
    area: int
    storage_key: str


# Each keyframe's version: the newest version of its prompts.
SELECT_KEYFRAME_VERSIONS = """
SELECT object_id, frame_index, max(version) AS version
FROM prompts
WHERE video_id = $1 AND ($2::integer IS NULL OR object_id = $2)
GROUP BY object_id, frame_index
"""
SELECT_OBJECT_KEYFRAMES = """
SELECT o.object_id, p.frame_index
FROM objects o
LEFT JOIN prompts p ON p.video_id = o.video_id AND p.object_id = o.object_id
WHERE o.video_id = $1
GROUP BY o.object_id, p.frame_index
ORDER BY o.object_id, p.frame_index
"""
SELECT_PROMPTS = """
SELECT id, video_id, object_id, frame_index, points, labels, box, created_at, mask, version,
       state_key
FROM prompts
WHERE video_id = $1 AND object_id = ANY($2::integer[])
ORDER BY object_id, frame_index, created_at, id
"""
SELECT_SPANS = """
SELECT object_id, keyframe_before, keyframe_after, before_version, after_version,
       frame_start, frame_end
FROM propagated_spans
WHERE video_id = $1 AND object_id = ANY($2::integer[])
ORDER BY object_id, frame_start
"""
# A new span replaces the frames it covers in every older span of the object (computed from
# keyframes that may no longer be its neighbours); what is left of those stays, stale.
DELETE_OVERLAPPING_SPANS = """
DELETE FROM propagated_spans
WHERE video_id = $1 AND object_id = $2 AND frame_start <= $4 AND frame_end >= $3
RETURNING object_id, keyframe_before, keyframe_after, before_version, after_version,
          frame_start, frame_end, job_id
"""
INSERT_SPAN = """
INSERT INTO propagated_spans (video_id, object_id, keyframe_before, keyframe_after,
                              before_version, after_version, frame_start, frame_end, job_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
# A keyframe's mask (source 'prompt') is never replaced by a propagated one.
UPSERT_PROPAGATED_MASK = """
INSERT INTO masks (video_id, object_id, frame_index, source, score, area, storage_key, job_id)
VALUES ($1, $2, $3, 'propagation', $4, $5, $6, $7)
ON CONFLICT (video_id, object_id, frame_index) DO UPDATE
SET score = EXCLUDED.score, area = EXCLUDED.area, storage_key = EXCLUDED.storage_key,
    job_id = EXCLUDED.job_id, updated_at = now()
WHERE masks.source = 'propagation'
"""


async def object_keyframes(conn: asyncpg.Connection, video_id: uuid.UUID) -> dict[int, list[int]]:
    """Every object of the video with its keyframes (an empty list for none), by object id."""
    found: dict[int, list[int]] = {}
    for record in await conn.fetch(SELECT_OBJECT_KEYFRAMES, video_id):
        frames = found.setdefault(record["object_id"], [])
        if record["frame_index"] is not None:
            frames.append(record["frame_index"])
    return found


async def keyframe_versions(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int | None
) -> dict[int, dict[int, datetime]]:
    """object id -> keyframe -> version, for every object with prompts (or just ``object_id``)."""
    found: dict[int, dict[int, datetime]] = {}
    for record in await conn.fetch(SELECT_KEYFRAME_VERSIONS, video_id, object_id):
        found.setdefault(record["object_id"], {})[record["frame_index"]] = record["version"]
    return found


async def prompts_of(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_ids: Sequence[int]
) -> list[PromptRow]:
    """Every prompt of the objects, by object, frame, then age (oldest first)."""
    records = await conn.fetch(SELECT_PROMPTS, video_id, list(object_ids))
    return [msgspec.convert(dict(r), PromptRow) for r in records]


async def spans_of(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_ids: Sequence[int]
) -> list[SpanRow]:
    records = await conn.fetch(SELECT_SPANS, video_id, list(object_ids))
    return [msgspec.convert(dict(r), SpanRow) for r in records]


async def record_span(
    conn: asyncpg.Connection, video_id: uuid.UUID, span: SpanRow, job_id: uuid.UUID
) -> None:
    """Store ``span`` in place of the frames it covers in the object's older spans."""
    replaced = await conn.fetch(
        DELETE_OVERLAPPING_SPANS, video_id, span.object_id, span.frame_start, span.frame_end
    )
    rows = [(span, job_id)]
    for record in replaced:
        older = msgspec.convert({k: v for k, v in dict(record).items() if k != "job_id"}, SpanRow)
        rows.extend(
            (rest, record["job_id"]) for rest in trim(older, span.frame_start, span.frame_end)
        )
    await conn.executemany(
        INSERT_SPAN,
        [
            (
                video_id,
                row.object_id,
                row.keyframe_before,
                row.keyframe_after,
                row.before_version,
                row.after_version,
                row.frame_start,
                row.frame_end,
                owner,
            )
            for row, owner in rows
        ],
    )


async def upsert_propagated_masks(
    conn: asyncpg.Connection, video_id: uuid.UUID, job_id: uuid.UUID, rows: Sequence[MaskIndexRow]
) -> None:
    """Index propagated masks; frames whose mask is a keyframe's keep it."""
    await conn.executemany(
        UPSERT_PROPAGATED_MASK,
        [
            (video_id, r.object_id, r.frame_index, r.score, r.area, r.storage_key, job_id)
            for r in rows
        ],
    )
