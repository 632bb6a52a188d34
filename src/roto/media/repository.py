"""SQL of the ingest job on the videos table."""

from __future__ import annotations

import uuid

import asyncpg
import msgspec

from roto.jobs.contracts import IngestResult


class IngestSource(msgspec.Struct):
    """What ingest needs to know about a video before it starts."""

    id: uuid.UUID
    user_id: uuid.UUID
    status: str
    source_key: str
    size_bytes: int


SELECT_SOURCE = """
SELECT id, user_id, status, source_key, size_bytes FROM videos WHERE id = $1
"""
# Only an ingesting video changes: a redelivered job never rewrites a settled one.
MARK_READY = """
UPDATE videos SET status = 'ready', width = $2, height = $3, fps = $4, frame_count = $5,
                  duration_s = $6, codec = $7, frame_rate = $8, timecode = $9,
                  proxy_frames = $10, error_code = NULL, error_message = NULL,
                  updated_at = now()
WHERE id = $1 AND status = 'ingesting'
"""
MARK_FAILED = """
UPDATE videos SET status = 'failed', error_code = $2, error_message = $3, updated_at = now()
WHERE id = $1 AND status = 'ingesting'
"""


async def get_source(conn: asyncpg.Connection, video_id: uuid.UUID) -> IngestSource | None:
    record = await conn.fetchrow(SELECT_SOURCE, video_id)
    return None if record is None else msgspec.convert(dict(record), IngestSource)


async def mark_ready(conn: asyncpg.Connection, video_id: uuid.UUID, meta: IngestResult) -> bool:
    """Record the metadata and make the video ready; False if it was not ingesting."""
    status: str = await conn.execute(
        MARK_READY,
        video_id,
        meta.width,
        meta.height,
        meta.fps,
        meta.frame_count,
        meta.duration_s,
        meta.codec,
        meta.frame_rate,
        meta.timecode,
        meta.proxy_frames,
    )
    return status.endswith(" 1")


async def mark_failed(
    conn: asyncpg.Connection, video_id: uuid.UUID, code: str, message: str
) -> bool:
    """Fail an ingesting video with a reason; False if it was not ingesting."""
    status: str = await conn.execute(MARK_FAILED, video_id, code, message)
    return status.endswith(" 1")
