"""The frame-number-to-timestamp table that ingest stores beside the frames.

Frames are numbered in the order the decoder returns them, which a container's seek index does
not know. With each frame's pts saved at ingest, a reader can seek to the keyframe before frame
N, decode from there, and know which decoded frame is N by its pts.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from roto.storage import object_bytes
from roto.videos.storage import frame_pts_key

PTS_DTYPE = np.dtype("<i8")


def encode_pts(pts: list[int]) -> bytes:
    return np.asarray(pts, dtype=PTS_DTYPE).tobytes()


def decode_pts(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=PTS_DTYPE)


async def load_frame_pts(s3: Any, bucket: str, video_id: uuid.UUID) -> np.ndarray | None:
    """The video's table, or None when ingest stored none (older videos, frames without pts)."""
    data = await object_bytes(s3, bucket, frame_pts_key(video_id))
    return None if data is None else decode_pts(data)
