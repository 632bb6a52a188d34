"""A frame for the encoder: the JPEG that ingest stored in S3, decoded to RGB pixels; and the
check that a video holds a frame before a job works on it."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from roto.storage import object_bytes
from roto.videos.storage import frame_key
from roto.worker.contract import JobFailed
from roto_gpu.jobs.repository import FrameSource


async def fetch_frame(s3: Any, bucket: str, video_id: uuid.UUID, frame_index: int) -> bytes:
    """The stored JPEG of a frame; JobFailed ``frame_missing`` when there is none."""
    data = await object_bytes(s3, bucket, frame_key(video_id, frame_index))
    if data is None:
        raise JobFailed("frame_missing", f"frame {frame_index} of the video is not in storage")
    return data


def decode_frame(data: bytes) -> np.ndarray:
    """H x W x 3 uint8 RGB pixels of an image file; JobFailed ``frame_unreadable`` otherwise."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            # A writable copy: torch refuses to share memory with a read-only array.
            return np.array(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise JobFailed("frame_unreadable", f"the stored frame cannot be decoded: {exc}") from exc


async def load_frame(s3: Any, bucket: str, video_id: uuid.UUID, frame_index: int) -> np.ndarray:
    """Fetch and decode a frame; decoding runs in a thread so other jobs' coroutines keep going."""
    data = await fetch_frame(s3, bucket, video_id, frame_index)
    return await asyncio.to_thread(decode_frame, data)


def check_frame(video: FrameSource | None, frame_index: int) -> tuple[tuple[int, int], int]:
    """The video's (height, width) and frame count, once it is known to hold the frame."""
    if video is None:
        raise JobFailed("video_not_found", "the video no longer exists")
    if video.status != "ready" or not video.width or not video.height or not video.frame_count:
        raise JobFailed("video_not_ready", f"the video is {video.status}, not ready")
    if frame_index >= video.frame_count:
        raise JobFailed(
            "frame_out_of_range",
            f"frame {frame_index} is past the video's last frame ({video.frame_count - 1})",
        )
    return (video.height, video.width), video.frame_count
