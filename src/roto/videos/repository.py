"""SQL for videos."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import msgspec

from roto.timefmt import rfc3339
from roto.videos.schemas import Video, VideoError


class VideoRow(msgspec.Struct):
    """A videos row, as the services and the ingest worker see it."""

    id: uuid.UUID
    user_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    status: str
    source_key: str
    upload_id: str | None
    width: int | None
    height: int | None
    fps: float | None
    frame_count: int | None
    duration_s: float | None
    codec: str | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    frame_rate: str | None = None
    timecode: str | None = None
    proxy_frames: bool = False

    @property
    def is_ready(self) -> bool:
        return self.status == "ready"

    def to_wire(self) -> Video:
        return Video(
            id=str(self.id),
            filename=self.filename,
            status=self.status,  # type: ignore[arg-type]
            size_bytes=self.size_bytes,
            width=self.width,
            height=self.height,
            fps=self.fps,
            frame_count=self.frame_count,
            duration_s=self.duration_s,
            codec=self.codec,
            timecode=self.timecode,
            error=VideoError(self.error_code, self.error_message or "")
            if self.error_code
            else None,
            created_at=rfc3339(self.created_at) or "",
        )


# The queries below splice in this constant column list only, never input: hence `noqa: S608`.
VIDEO_COLUMNS = (
    "id, user_id, filename, content_type, size_bytes, status, source_key, upload_id, width, "
    "height, fps, frame_count, duration_s, codec, error_code, error_message, created_at, "
    "updated_at, frame_rate, timecode, proxy_frames"
)

INSERT_VIDEO = f"""
INSERT INTO videos (id, user_id, filename, content_type, size_bytes, source_key, upload_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING {VIDEO_COLUMNS}
"""  # noqa: S608
SELECT_VIDEO_FOR_USER = f"""
SELECT {VIDEO_COLUMNS} FROM videos WHERE id = $1 AND user_id = $2
"""  # noqa: S608
LIST_VIDEOS = f"""
SELECT {VIDEO_COLUMNS} FROM videos
WHERE user_id = $1
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $4
"""  # noqa: S608
# Only a video still waiting for its file may start ingest: two completions cannot both win.
START_INGEST = f"""
UPDATE videos SET status = 'ingesting', source_key = $3, updated_at = now()
WHERE id = $1 AND user_id = $2 AND status = 'awaiting_upload'
RETURNING {VIDEO_COLUMNS}
"""  # noqa: S608
FAIL_INGEST = """
UPDATE videos SET status = 'failed', error_code = $2, error_message = $3, updated_at = now()
WHERE id = $1 AND status = 'ingesting'
"""
DELETE_VIDEO = "DELETE FROM videos WHERE id = $1 AND user_id = $2"
VIDEO_EXISTS = "SELECT EXISTS (SELECT 1 FROM videos WHERE id = $1)"
# Up to $3 videos still awaiting their file $1 seconds after they were announced.
EXPIRE_UPLOADS = f"""
UPDATE videos SET status = 'failed', error_code = 'upload_expired', error_message = $2,
                  updated_at = now()
WHERE id IN (
    SELECT id FROM videos
    WHERE status = 'awaiting_upload' AND created_at < now() - make_interval(secs => $1)
    ORDER BY created_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
RETURNING {VIDEO_COLUMNS}
"""  # noqa: S608


def _video(record: asyncpg.Record | None) -> VideoRow | None:
    return None if record is None else msgspec.convert(dict(record), VideoRow)


async def insert_video(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    video_id: uuid.UUID,
    user_id: uuid.UUID,
    filename: str,
    content_type: str,
    size_bytes: int,
    source_key: str,
    upload_id: str | None,
) -> VideoRow:
    record = await conn.fetchrow(
        INSERT_VIDEO, video_id, user_id, filename, content_type, size_bytes, source_key, upload_id
    )
    video = _video(record)
    assert video is not None
    return video


async def get_video_for_user(
    conn: asyncpg.Connection | asyncpg.Pool, video_id: uuid.UUID, user_id: uuid.UUID
) -> VideoRow | None:
    return _video(await conn.fetchrow(SELECT_VIDEO_FOR_USER, video_id, user_id))


async def list_videos(
    conn: asyncpg.Connection | asyncpg.Pool,
    user_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[VideoRow]:
    """The user's videos, newest first, strictly after the keyset position ``after``."""
    stamp, last_id = after if after else (None, None)
    records = await conn.fetch(LIST_VIDEOS, user_id, stamp, last_id, limit)
    return [msgspec.convert(dict(r), VideoRow) for r in records]


async def start_ingest(
    conn: asyncpg.Connection, video_id: uuid.UUID, user_id: uuid.UUID, source_key: str
) -> VideoRow | None:
    """Move an ``awaiting_upload`` video to ``ingesting``, reading its file from ``source_key``
    from now on; None if it was in another state."""
    return _video(await conn.fetchrow(START_INGEST, video_id, user_id, source_key))


async def fail_ingest(
    conn: asyncpg.Connection, video_id: uuid.UUID, code: str, message: str
) -> None:
    """Mark a video that is still ingesting as failed with a reason."""
    await conn.execute(FAIL_INGEST, video_id, code, message)


async def video_exists(conn: asyncpg.Connection | asyncpg.Pool, video_id: uuid.UUID) -> bool:
    exists: bool = await conn.fetchval(VIDEO_EXISTS, video_id)
    return exists


async def expire_uploads(
    conn: asyncpg.Connection | asyncpg.Pool, after_s: float, message: str, limit: int
) -> list[VideoRow]:
    """Fail up to ``limit`` videos still awaiting their file ``after_s`` after they were made."""
    records = await conn.fetch(EXPIRE_UPLOADS, float(after_s), message, limit)
    return [msgspec.convert(dict(r), VideoRow) for r in records]


async def delete_video(
    conn: asyncpg.Connection | asyncpg.Pool, video_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    """Delete the row (its jobs go by cascade); False if there was none."""
    status: str = await conn.execute(DELETE_VIDEO, video_id, user_id)
    return status.endswith(" 1")
