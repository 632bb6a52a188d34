"""A frame for the encoder: the JPEG that ingest stored in S3, decoded to RGB pixels."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import numpy as np
from botocore.exceptions import ClientError
from PIL import Image, UnidentifiedImageError

from roto.videos.storage import error_code, frame_key
from roto.worker.context import JobFailed

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


async def fetch_frame(s3: Any, bucket: str, video_id: uuid.UUID, frame_index: int) -> bytes:
    """The stored JPEG of a frame; JobFailed ``frame_missing`` when there is none."""
    try:
        response = await s3.get_object(Bucket=bucket, Key=frame_key(video_id, frame_index))
    except ClientError as exc:
        if error_code(exc) in MISSING_CODES:
            raise JobFailed(
                "frame_missing", f"frame {frame_index} of the video is not in storage"
            ) from exc
        raise
    body = response["Body"]
    async with body:
        data: bytes = await body.read()
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
