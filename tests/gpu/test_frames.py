"""Frames for the encoder: the JPEG ingest stored in (moto's) S3, decoded to RGB pixels."""

from __future__ import annotations

import io
import uuid
from typing import Any

import numpy as np
import pytest
from PIL import Image

from roto.media.frames import encode_jpeg
from roto.resources import Resources
from roto.videos.storage import frame_key
from roto.worker.contract import JobFailed
from roto_gpu.jobs.frames import decode_frame, load_frame

# Mean absolute difference a JPEG at quality 92 leaves on these smooth synthetic frames.
MAX_JPEG_ERROR = 3.0


async def test_a_stored_frame_comes_back_as_writable_rgb_pixels_at_its_size(
    resources: Resources, frames: list[np.ndarray]
) -> None:
    video_id = uuid.uuid4()
    source = frames[3]
    bucket = resources.settings.s3_bucket
    data = encode_jpeg(Image.fromarray(source), 92)
    await resources.s3.put_object(Bucket=bucket, Key=frame_key(video_id, 3), Body=data)

    pixels = await load_frame(resources.s3, bucket, video_id, 3)

    assert pixels.shape == source.shape and pixels.dtype == np.uint8
    assert pixels.flags.writeable
    assert np.abs(pixels.astype(float) - source.astype(float)).mean() < MAX_JPEG_ERROR


async def test_a_frame_that_is_not_stored_fails_with_frame_missing(
    resources: Resources,
) -> None:
    with pytest.raises(JobFailed) as failed:
        await load_frame(resources.s3, resources.settings.s3_bucket, uuid.uuid4(), 0)
    assert failed.value.code == "frame_missing"


@pytest.mark.parametrize("data", [b"", b"not a jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 20])
def test_bytes_that_are_not_an_image_fail_with_frame_unreadable(data: Any) -> None:
    with pytest.raises(JobFailed) as failed:
        decode_frame(data)
    assert failed.value.code == "frame_unreadable"


def test_a_grey_or_rgba_image_decodes_to_three_channels() -> None:
    for mode in ("L", "RGBA"):
        buffer = io.BytesIO()
        Image.new(mode, (8, 4)).save(buffer, format="PNG")
        assert decode_frame(buffer.getvalue()).shape == (4, 8, 3)
