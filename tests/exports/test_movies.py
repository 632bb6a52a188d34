"""ProRes 4444 and the overlay preview opened with an independent reader (PyAV) and compared with
the stored masks and the source."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from litestar.testing import AsyncTestClient

from roto.resources import Resources
from roto.settings import Settings
from tests.exports.helpers import FRAMES, RATE, export, masked_video
from tests.media import frame_image


def decode_movie(data: bytes, layout: str) -> tuple[Any, list[np.ndarray]]:
    """(stream facts, frames as arrays) of a movie, read with PyAV from memory."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        facts = {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "rate": stream.average_rate,
            "profile": stream.codec_context.profile,
            "size": (stream.width, stream.height),
        }
        frames = [frame.to_ndarray(format=layout) for frame in container.decode(stream)]
    return facts, frames


async def test_prores_4444_has_the_mask_as_alpha_at_the_source_rate(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    _, archive = await export(client, headers, resources, video.id, format="prores_4444")
    assert sorted(n for n in archive.namelist() if n.endswith(".mov")) == [
        "Shot_01_v2_Car.mov",
        "Shot_01_v2_Tree.mov",
    ]
    for label, object_id in (("Car", 1), ("Tree", 2)):
        facts, frames = decode_movie(archive.read(f"Shot_01_v2_{label}.mov"), "rgba")
        assert facts["codec"] == "prores"
        # FFmpeg's ProRes decoder hands 4444 out as 12 bits; the encoder was fed 10.
        assert facts["pix_fmt"] in {"yuva444p10le", "yuva444p12le"}
        assert "4444" in str(facts["profile"])
        assert facts["rate"] == RATE  # 24000/1001 exactly, not 23.976
        assert facts["size"] == (video.width, video.height)
        assert len(frames) == FRAMES
        for frame, rgba in enumerate(frames):
            expected = video.expected(object_id, frame).astype(np.uint8) * 255
            assert np.array_equal(rgba[..., 3], expected), (label, frame)
            source = frame_image(frame, video.width, video.height).astype(int)
            assert np.abs(rgba[..., :3].astype(int) - source).mean() < 4


async def test_overlay_mp4_blends_object_colours_at_the_source_rate(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    rate = Fraction(25)
    video = await masked_video(client, headers, settings, s3_sync, tmp_path, rate=rate)
    _, archive = await export(client, headers, resources, video.id, format="overlay_mp4")
    facts, frames = decode_movie(archive.read("Shot_01_v2_overlay.mp4"), "rgb24")
    assert (facts["codec"], facts["rate"], len(frames)) == ("h264", rate, FRAMES)
    frame = 5
    rgb = frames[frame].astype(int)
    source = frame_image(frame, video.width, video.height).astype(int)
    car = video.expected(1, frame) & ~video.expected(2, frame)
    outside = ~(video.expected(1, frame) | video.expected(2, frame))
    # Inside the car, half of its red is blended in: red up, green and blue down.
    blended = (source[car] + np.array([255, 0, 0])) / 2
    assert np.abs(rgb[car] - blended).mean() < 8
    assert np.abs(rgb[outside] - source[outside]).mean() < 4
