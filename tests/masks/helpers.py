"""Helpers for the masks tests: store masks the way a propagate job would, and compare them."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from roto.masks import rle, storage
from roto.masks.schemas import FrameMask, Rle
from roto.settings import Settings
from tests.objects.fake_daemon import disc
from tests.videos.helpers import connect


def propagated(
    object_id: int, frame: int, height: int, width: int, cx: float, cy: float, score: float = 0.5
) -> FrameMask:
    """A propagated mask: a disc around (cx, cy)."""
    return FrameMask(
        object_id=object_id,
        frame_index=frame,
        rle=rle.encode(disc(height, width, cx, cy)),
        score=score,
        source="propagation",
    )


async def store_chunk(
    settings: Settings,
    s3: Any,
    video_id: str,
    masks: list[FrameMask],
    *,
    indexed_frames: list[int] | None = None,
) -> str:
    """Write ``masks`` (one object) as one chunk in S3 and index them (or ``indexed_frames``)."""
    object_id = masks[0].object_id
    job_id = uuid.uuid4()
    key = storage.chunk_key(video_id, object_id, job_id, masks[0].frame_index)
    s3.put_object(Bucket=settings.s3_bucket, Key=key, Body=storage.encode_chunk(masks))
    by_frame = {mask.frame_index: mask for mask in masks}
    frames = indexed_frames if indexed_frames is not None else list(by_frame)
    conn = await connect(settings)
    try:
        await conn.executemany(
            "INSERT INTO masks (video_id, object_id, frame_index, source, score, area, "
            "storage_key, job_id) VALUES ($1, $2, $3, 'propagation', $4, $5, $6, $7)",
            [
                (
                    uuid.UUID(video_id),
                    object_id,
                    frame,
                    by_frame[frame].score if frame in by_frame else 0.5,
                    rle.area(by_frame[frame].rle) if frame in by_frame else 0,
                    key,
                    job_id,
                )
                for frame in frames
            ],
        )
    finally:
        await conn.close()
    return key


def decoded(wire_rle: dict[str, Any]) -> np.ndarray:
    return rle.decode(Rle(size=wire_rle["size"], counts=wire_rle["counts"]))


def listed(body: dict[str, Any]) -> list[tuple[int, int]]:
    """(frame_index, object_id) of every mask in a masks answer, in answer order."""
    return [(f["frame_index"], m["object_id"]) for f in body["frames"] for m in f["masks"]]
