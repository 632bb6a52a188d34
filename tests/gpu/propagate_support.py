"""Helpers for the propagate job tests: prompt masks as the segment job leaves them, propagate
jobs sent through the outbox to the batch queue, and the masks index read back."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import PropagatePayload
from roto.masks.repository import MaskRow, upsert_mask
from roto.masks.storage import decode_chunk, keyframe_mask_key, object_chunks_prefix
from roto.resources import Resources
from roto_gpu.jobs.track_store import CHUNK_SUFFIX, TRACK_SUFFIX, track_key
from tests.gpu.support import Clip, add_prompt
from tests.worker.support import enqueue_job

PROMPT_SCORE = 0.875


async def keyframe(
    resources: Resources,
    clip: Clip,
    object_id: int,
    frame_index: int,
    *,
    points: list[list[float]] | None = None,
    box: list[float] | None = None,
) -> None:
    """A prompt and the mask row the segment job would have stored for it."""
    await add_prompt(
        resources,
        clip,
        object_id=object_id,
        frame_index=frame_index,
        points=points,
        labels=[1] * len(points) if points else None,
        box=box,
    )
    async with resources.pool.acquire() as conn:
        await upsert_mask(
            conn,
            video_id=clip.video_id,
            object_id=object_id,
            frame_index=frame_index,
            source="prompt",
            score=PROMPT_SCORE,
            area=1,
            storage_key=keyframe_mask_key(clip.video_id, object_id, frame_index),
            job_id=None,
        )


async def enqueue_propagate(
    resources: Resources,
    clip: Clip,
    object_ids: list[int],
    frame_start: int,
    frame_end: int,
    direction: str = "forward",
) -> jobs_repo.JobRow:
    payload = PropagatePayload(clip.video_id, object_ids, frame_start, frame_end, direction)  # type: ignore[arg-type]
    return await enqueue_job(
        resources,
        clip.user_id,
        video_id=clip.video_id,
        job_type="propagate",
        payload=msgspec.to_builtins(payload),
    )


async def mask_rows(resources: Resources, video_id: uuid.UUID) -> list[MaskRow]:
    async with resources.pool.acquire() as conn:
        records = await conn.fetch(
            "SELECT video_id, object_id, frame_index, source, score, area, storage_key, job_id, "
            "updated_at FROM masks WHERE video_id = $1 ORDER BY object_id, frame_index",
            video_id,
        )
    return [msgspec.convert(dict(r), MaskRow) for r in records]


def chunk_masks(s3_sync: Any, bucket: str, key: str) -> dict[tuple[int, int], Any]:
    """The masks of one stored chunk, by (object, frame)."""
    body = s3_sync.get_object(Bucket=bucket, Key=key)["Body"].read()
    return {(m.object_id, m.frame_index): m for m in decode_chunk(body)}


def job_frames(rows: list[MaskRow], job_id: uuid.UUID) -> list[tuple[int, int]]:
    """(object, frame) of the rows a job wrote."""
    return [(r.object_id, r.frame_index) for r in rows if r.job_id == job_id]


def chunk_keys(s3_sync: Any, bucket: str, video_id: uuid.UUID, object_id: int) -> set[str]:
    """Every chunk of masks stored for one object. Each has its track records beside it, and
    none are stored without their chunk (asserted here, so every caller checks it)."""
    prefix = object_chunks_prefix(video_id, object_id)
    listed = s3_sync.list_objects_v2(Bucket=bucket, Prefix=prefix)
    keys = {item["Key"] for item in listed.get("Contents", [])}
    chunks = {key for key in keys if key.endswith(CHUNK_SUFFIX)}
    tracks = {key for key in keys if key.endswith(TRACK_SUFFIX)}
    assert keys == chunks | tracks, keys - chunks - tracks
    assert tracks == {track_key(key) for key in chunks}
    return chunks
