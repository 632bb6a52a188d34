"""SQL of the GPU daemon's jobs: what a segment job reads about its video, the object ids a
detect job sets aside, and what the sweeps read about the masks index, prompts, keyframes and
jobs."""

from __future__ import annotations

import uuid

import asyncpg
import msgspec


class FrameSource(msgspec.Struct, frozen=True):
    """The video facts a segment job checks its frame against."""

    status: str
    width: int | None
    height: int | None
    frame_count: int | None


SELECT_FRAME_SOURCE = "SELECT status, width, height, frame_count FROM videos WHERE id = $1"
# Serialises the finishing of segment jobs on one keyframe until the transaction ends; the key is
# a hash, so two keyframes that collide only wait for each other.
LOCK_KEYFRAME = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
# Chunks that a row points at, as its mask or as the propagated mask its keyframe covers.
SELECT_REFERENCED_CHUNKS = """
SELECT storage_key FROM masks
WHERE video_id = $1 AND object_id = ANY($2::int[]) AND source = 'propagation'
UNION
SELECT base_storage_key FROM masks
WHERE video_id = $1 AND object_id = ANY($2::int[]) AND base_storage_key IS NOT NULL
"""
# Where each frame's propagated mask is: its own row's chunk, or (under a keyframe) the chunk of
# the propagated mask the keyframe covers.
SELECT_TRACKED_CHUNKS = """
SELECT frame_index,
       CASE WHEN source = 'propagation' THEN storage_key ELSE base_storage_key END AS chunk_key
FROM masks
WHERE video_id = $1 AND object_id = $2 AND frame_index = ANY($3::int[])
"""
# The video row's lock serialises id allocation with the API's object creation.
LOCK_READY_VIDEO = "SELECT 1 FROM videos WHERE id = $1 AND status = 'ready' FOR UPDATE"
SELECT_RESERVED_IDS = """
SELECT object_id FROM detection_object_ids WHERE job_id = $1 ORDER BY rank
"""
# Live objects and the ids other unfinished detections set aside: the room left in the video.
COUNT_TAKEN = """
SELECT (SELECT count(*) FROM objects WHERE video_id = $1)
     + (SELECT count(*) FROM detection_object_ids WHERE video_id = $1 AND job_id <> $2)
"""
ALLOCATE_OBJECT_IDS = """
UPDATE videos SET next_object_id = next_object_id + $2
WHERE id = $1
RETURNING next_object_id - $2 AS first_id
"""
INSERT_RESERVED_ID = """
INSERT INTO detection_object_ids (job_id, rank, video_id, object_id) VALUES ($1, $2, $3, $4)
"""
DELETE_RESERVED_IDS = "DELETE FROM detection_object_ids WHERE job_id = $1"
SELECT_FINISHED_JOBS = """
SELECT id FROM jobs WHERE id = ANY($1::uuid[]) AND status IN ('succeeded', 'failed', 'canceled')
"""

# Jobs on the video other than ``$2`` that have not finished (one may be seeding a run from a
# state whose prompt was deleted since it read it).
SELECT_OTHER_UNFINISHED = """
SELECT EXISTS (
    SELECT 1 FROM jobs
    WHERE video_id = $1 AND id <> $2 AND status NOT IN ('succeeded', 'failed', 'canceled')
)
"""
SELECT_EXISTING_PROMPTS = "SELECT id FROM prompts WHERE id = ANY($1::uuid[])"
SELECT_REFERENCED_CONTEXTS = """
SELECT context_key FROM keyframes
WHERE video_id = $1 AND object_id = ANY($2::int[]) AND context_key IS NOT NULL
"""


async def get_frame_source(conn: asyncpg.Connection, video_id: uuid.UUID) -> FrameSource | None:
    record = await conn.fetchrow(SELECT_FRAME_SOURCE, video_id)
    return None if record is None else msgspec.convert(dict(record), FrameSource)


async def lock_keyframe(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frame_index: int
) -> None:
    """Hold the keyframe's lock for the rest of ``conn``'s transaction."""
    await conn.execute(LOCK_KEYFRAME, f"keyframe:{video_id}:{object_id}:{frame_index}")


async def tracked_chunks(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frames: list[int]
) -> dict[int, str]:
    """Frame -> the mask chunk holding its propagated mask, for the ``frames`` that have one."""
    records = await conn.fetch(SELECT_TRACKED_CHUNKS, video_id, object_id, frames)
    return {r["frame_index"]: r["chunk_key"] for r in records if r["chunk_key"] is not None}


async def referenced_chunks(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_ids: list[int]
) -> set[str]:
    """The S3 keys that propagated mask rows of these objects point at."""
    records = await conn.fetch(SELECT_REFERENCED_CHUNKS, video_id, object_ids)
    return {record["storage_key"] for record in records}


async def others_unfinished(
    conn: asyncpg.Connection, video_id: uuid.UUID, job_id: uuid.UUID
) -> bool:
    """Whether a job on the video other than ``job_id`` is queued or running."""
    busy: bool = await conn.fetchval(SELECT_OTHER_UNFINISHED, video_id, job_id)
    return busy


async def existing_prompts(conn: asyncpg.Connection, prompt_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``prompt_ids`` that still exist (a prompt's id is never used again)."""
    records = await conn.fetch(SELECT_EXISTING_PROMPTS, list(prompt_ids))
    return {record["id"] for record in records}


async def referenced_contexts(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_ids: list[int]
) -> set[str]:
    """The S3 keys of the decoding contexts that these objects' keyframe rows point at."""
    records = await conn.fetch(SELECT_REFERENCED_CONTEXTS, video_id, object_ids)
    return {record["context_key"] for record in records}


async def finished_jobs(conn: asyncpg.Connection, job_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``job_ids`` that have finished; a job that no longer exists is not among them."""
    records = await conn.fetch(SELECT_FINISHED_JOBS, list(job_ids))
    return {record["id"] for record in records}


async def reserve_object_ids(
    conn: asyncpg.Connection, job_id: uuid.UUID, video_id: uuid.UUID, count: int, limit: int
) -> list[int] | None:
    """Up to ``count`` object ids for the job's instances, by rank: those it set aside already
    (a redelivered job), then new ones while the video holds fewer than ``limit`` objects. None
    when the video is gone or not ready. Call in a transaction."""
    if await conn.fetchval(LOCK_READY_VIDEO, video_id) is None:
        return None
    ids: list[int] = [r["object_id"] for r in await conn.fetch(SELECT_RESERVED_IDS, job_id)]
    taken: int = await conn.fetchval(COUNT_TAKEN, video_id, job_id)
    more = min(count - len(ids), limit - taken - len(ids))
    if more > 0:
        first: int = await conn.fetchval(ALLOCATE_OBJECT_IDS, video_id, more)
        new = list(range(first, first + more))
        await conn.executemany(
            INSERT_RESERVED_ID,
            [(job_id, len(ids) + i, video_id, object_id) for i, object_id in enumerate(new)],
        )
        ids.extend(new)
    return ids[:count]


async def release_object_ids(conn: asyncpg.Connection, job_id: uuid.UUID) -> None:
    """Forget the ids a detect job set aside (its objects were made, or it ended without)."""
    await conn.execute(DELETE_RESERVED_IDS, job_id)
