"""Image-sequence exports opened with independent readers (PIL, OpenEXR) and compared with the
stored masks bit for bit; numbering, frame range and object subset as asked."""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import OpenEXR
import pytest
from litestar.testing import AsyncTestClient
from PIL import Image
from structlog.testing import capture_logs

from roto.media.frame_pts import encode_pts
from roto.media.frames import decode_frames
from roto.resources import Resources
from roto.settings import Settings
from roto.videos.storage import frame_pts_key
from tests.exports.helpers import FRAMES, RATE, export, masked_video
from tests.media import frame_image


def png(archive: Any, name: str) -> np.ndarray:
    with Image.open(io.BytesIO(archive.read(name))) as image:
        return np.array(image)


def sequence(archive: Any, pattern: str) -> list[str]:
    return sorted(n for n in archive.namelist() if re.fullmatch(pattern, n))


@pytest.mark.parametrize(("bit_depth", "white"), [(8, 255), (16, 65535)])
async def test_png_mattes_equal_the_stored_masks_bit_for_bit(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
    bit_depth: int,
    white: int,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    job, archive = await export(
        client, headers, resources, video.id, format="png_sequence", bit_depth=bit_depth
    )
    assert job["result"]["filename"] == "Shot_01_v2_png_sequence.zip"
    assert job["progress"] == {"done": FRAMES, "total": FRAMES}
    for label, object_id in (("Car", 1), ("Tree", 2)):
        names = sequence(archive, rf"Shot_01_v2_{label}\.\d{{4}}\.png")
        assert names == [f"Shot_01_v2_{label}.{n:04d}.png" for n in range(FRAMES)]
        for frame, name in enumerate(names):
            pixels = png(archive, name)
            assert pixels.dtype == (np.uint16 if bit_depth == 16 else np.uint8)
            assert pixels.shape == (video.height, video.width)
            expected = video.expected(object_id, frame).astype(pixels.dtype) * white
            assert np.array_equal(pixels, expected), name
    assert "README.txt" in archive.namelist()
    readme = archive.read("README.txt").decode()
    assert "empty matte" in readme and f"{bit_depth}-bit" in readme


async def test_frame_range_object_subset_and_start_number_are_honoured(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    job, archive = await export(
        client,
        headers,
        resources,
        video.id,
        format="png_sequence",
        object_ids=[2],
        frame_start=3,
        frame_end=9,
        start_number=1001,
    )
    assert job["progress"] == {"done": 7, "total": 7}
    names = sequence(archive, r".*\.png")
    assert names == [f"Shot_01_v2_Tree.{n:04d}.png" for n in range(1001, 1008)]
    for frame, name in zip(range(3, 10), names, strict=True):
        assert np.array_equal(png(archive, name) > 0, video.expected(2, frame)), name
    # Frame 9 is past object 2's masks: an empty matte, not a missing file.
    assert not png(archive, names[-1]).any()


async def test_rgba_pngs_carry_the_source_pixels_with_straight_alpha(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    _, archive = await export(
        client, headers, resources, video.id, format="rgba_png_sequence", object_ids=[1]
    )
    names = sequence(archive, r"Shot_01_v2_Car\.\d{4}\.png")
    assert len(names) == FRAMES
    for frame, name in enumerate(names):
        rgba = png(archive, name)
        assert rgba.shape == (video.height, video.width, 4)
        assert np.array_equal(rgba[..., 3], video.expected(1, frame).astype(np.uint8) * 255)
        # Straight alpha: colour is the source's everywhere, also where alpha is 0 (H.264 is
        # lossy, so compare with the generated frame within the codec's error).
        source = frame_image(frame, video.width, video.height).astype(int)
        assert np.abs(rgba[..., :3].astype(int) - source).mean() < 4, name


# At INFO, so that the export's log line with the decoded count is not filtered out.
@pytest.mark.parametrize("settings", [{"log_level": "INFO"}], indirect=True)
async def test_a_late_range_with_ingest_timestamps_carries_the_same_source_pixels(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    # Keyframes every 4 frames and B-frames: the worker seeks to frame 8, then decodes 8..11.
    video = await masked_video(
        client, headers, settings, s3_sync, tmp_path, keyframe_every=4, bframes=2
    )
    stamps = [pts for _, pts in decode_frames(tmp_path / "source.mp4")]
    s3_sync.put_object(
        Bucket=settings.s3_bucket,
        Key=frame_pts_key(video.id),
        Body=encode_pts([int(p) for p in stamps if p is not None]),
    )
    with capture_logs() as logs:
        _, archive = await export(
            client,
            headers,
            resources,
            video.id,
            format="rgba_png_sequence",
            object_ids=[1],
            frame_start=9,
            frame_end=11,
        )
    written = [entry for entry in logs if entry["event"] == "export_written"]
    assert [entry["source_frames_decoded"] for entry in written] == [4]  # 8, 9, 10, 11
    names = sequence(archive, r"Shot_01_v2_Car\.\d{4}\.png")
    assert len(names) == 3
    for frame, name in zip(range(9, 12), names, strict=True):
        rgba = png(archive, name)
        assert np.array_equal(rgba[..., 3], video.expected(1, frame).astype(np.uint8) * 255)
        source = frame_image(frame, video.width, video.height).astype(int)
        assert np.abs(rgba[..., :3].astype(int) - source).mean() < 4, name


async def test_exr_has_a_layer_per_object_with_the_rate_and_each_frames_timecode(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path, timecode="01:00:59:20")
    _, archive = await export(
        client, headers, resources, video.id, format="exr_sequence", start_number=1
    )
    names = sequence(archive, r".*\.exr")
    assert names == [f"Shot_01_v2.{n:04d}.exr" for n in range(1, FRAMES + 1)]
    with tempfile.TemporaryDirectory() as folder:
        for frame, name in enumerate(names):
            path = Path(folder) / name
            path.write_bytes(archive.read(name))
            exr = OpenEXR.File(str(path), separate_channels=True)
            header = exr.header()
            assert header["compression"] == OpenEXR.ZIP_COMPRESSION
            assert header["framesPerSecond"] == RATE
            # 24000/1001 counts 24 frames a timecode second: 01:00:59:20, ..:23, 01:01:00:00...
            code = header["timeCode"]
            shown = f"{code.hours:02d}:{code.minutes:02d}:{code.seconds:02d}:{code.frame:02d}"
            later = 20 + frame
            assert shown == (
                f"01:00:59:{later:02d}" if later < 24 else f"01:01:00:{later - 24:02d}"
            )
            assert code.dropFrame is False
            channels = exr.channels()
            # One layer per object (Nuke shows "Car" and "Tree", each with its alpha).
            assert sorted(channels) == ["Car.A", "Tree.A"]
            for label, object_id in (("Car", 1), ("Tree", 2)):
                pixels = channels[f"{label}.A"].pixels
                assert pixels.dtype == np.float16
                expected = video.expected(object_id, frame).astype(np.float16)
                assert np.array_equal(pixels, expected), (name, label)
