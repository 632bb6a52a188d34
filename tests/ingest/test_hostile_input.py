"""Ingest of files whose header lies or that ask for too much: every decoded frame is checked
against the limits, only the accepted container formats open, frame rate and frame count are
capped; and what ingest keeps of honest files (frames upright, timecode, proxies)."""

from __future__ import annotations

import io
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from roto.media.decoding import FrameGuard
from roto.media.frames import decode_frames
from roto.media.ingest import measured_rate
from roto.media.probe import ProbeInfo, probe_file
from roto.resources import Resources
from roto.videos.storage import frame_key, proxy_frame_key, video_prefix
from roto.worker.contract import JobFailed
from tests.ingest.test_ingest import frame_keys, ingest, video_row
from tests.media import make_video, mpegts_segment

#: Frames before the size changes: enough that the container's header shows the small size.
LEAD = 12


async def stored_keys(resources: Resources, video_id: uuid.UUID) -> list[str]:
    answer = await resources.s3.list_objects_v2(
        Bucket=resources.settings.s3_bucket, Prefix=video_prefix(video_id)
    )
    return [item["Key"] for item in answer.get("Contents", [])]


async def test_frames_past_the_limit_behind_a_small_header_fail_ingest(
    resources: Resources,
) -> None:
    data = mpegts_segment(64, 64, LEAD) + mpegts_segment(8208, 16, 3)
    video_id, _ = await ingest(resources, data)
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "resolution_too_large")
    assert f"frame {LEAD} is 8208x16" in str(row["error_message"])
    assert "8192x8192" in str(row["error_message"])
    assert await frame_keys(resources, video_id) == []


async def test_a_stream_whose_frames_change_size_fails_with_its_own_code(
    resources: Resources,
) -> None:
    data = mpegts_segment(64, 64, LEAD) + mpegts_segment(96, 64, 3)
    video_id, _ = await ingest(resources, data)
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "frame_size_changed")
    assert f"frame {LEAD} is 96x64 but the video starts at 64x64" in str(row["error_message"])
    assert await frame_keys(resources, video_id) == []


@pytest.mark.parametrize("settings", [{"max_width": 256, "max_height": 256}], indirect=True)
async def test_a_huge_tail_is_refused_by_the_decoder_not_allocated(resources: Resources) -> None:
    data = mpegts_segment(64, 64, LEAD) + mpegts_segment(2048, 2048, 2)
    video_id, _ = await ingest(resources, data)
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "frame_size_changed")
    assert "2048x2048, over the limit of 256x256; it was not decoded" in str(row["error_message"])


@pytest.mark.parametrize("settings", [{"max_width": 256, "max_height": 256}], indirect=True)
async def test_huge_first_frames_behind_a_small_header_are_refused(resources: Resources) -> None:
    data = mpegts_segment(2048, 2048, 2) + mpegts_segment(64, 64, LEAD)
    video_id, _ = await ingest(resources, data)
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "resolution_too_large")
    assert "2048x2048" in str(row["error_message"])


def test_the_decoder_refuses_an_oversized_picture_without_returning_it(tmp_path: Path) -> None:
    path = tmp_path / "bomb.ts"
    path.write_bytes(mpegts_segment(64, 64, LEAD) + mpegts_segment(2048, 2048, 2))
    seen = []
    with pytest.raises(JobFailed) as caught:
        for image, _ in decode_frames(path, FrameGuard(256, 256)):
            seen.append(image.size)
    assert caught.value.code == "frame_size_changed"
    assert seen == [(64, 64)] * LEAD


async def test_a_frame_rate_over_the_limit_fails_ingest(
    resources: Resources, tmp_path: Path
) -> None:
    data = make_video(tmp_path / "fast.mp4", frames=30, fps=1000).read_bytes()
    video_id, _ = await ingest(resources, data)
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "frame_rate_too_high")
    assert "1000.000 fps is over the limit of 120 fps" in str(row["error_message"])


@pytest.mark.parametrize("settings", [{"max_frame_count": 10}], indirect=True)
async def test_a_frame_count_over_the_limit_fails_ingest(
    resources: Resources, tmp_path: Path
) -> None:
    data = make_video(tmp_path / "long.mp4", frames=12).read_bytes()
    video_id, _ = await ingest(resources, data)
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "too_many_frames")
    assert "limit of 10 frames" in str(row["error_message"])


def test_decoding_stops_at_the_frame_count_limit_whatever_the_header_says(
    tmp_path: Path,
) -> None:
    # MPEG-TS states no frame count; only decoding finds out.
    path = tmp_path / "many.ts"
    path.write_bytes(mpegts_segment(64, 64, 12))
    with pytest.raises(JobFailed) as caught:
        list(decode_frames(path, FrameGuard(256, 256), max_frames=5))
    assert caught.value.code == "too_many_frames"


def test_frames_packed_closer_than_the_header_says_are_measured() -> None:
    info = ProbeInfo(64, 64, 30.0, "h264", 3.0, 90, time_base=Fraction(1, 90000))
    pts = [i * 90 for i in range(3000)]  # a frame every millisecond
    assert measured_rate(3000, pts, info) == pytest.approx(1000, rel=1e-3)
    assert measured_rate(3000, None, info) == pytest.approx(1000)


def test_only_accepted_container_formats_open(tmp_path: Path) -> None:
    make_video(tmp_path / "clip.mp4", frames=3)
    playlist = tmp_path / "list.ffconcat"
    playlist.write_text("ffconcat version 1.0\nfile clip.mp4\n")
    with pytest.raises(JobFailed) as caught:
        probe_file(playlist)
    assert caught.value.code == "not_a_video"
    assert "accepted format" in caught.value.message
    with pytest.raises(JobFailed):
        list(decode_frames(playlist))
    assert probe_file(tmp_path / "clip.mp4").width == 160


def marked(index: int, width: int, height: int) -> np.ndarray:
    """Grey with a red block in the stored picture's top-left corner."""
    pixels = np.full((height, width, 3), 90, dtype=np.uint8)
    pixels[: height // 4, : width // 4] = (230, 20, 20)
    return pixels


async def test_a_rotated_phone_clip_is_stored_upright_with_proxies_and_its_timecode(
    resources: Resources, tmp_path: Path
) -> None:
    # A phone held upright records 1280x720 pictures and a display matrix turning them a
    # quarter clockwise (-90 degrees, counter-clockwise).
    path = make_video(
        tmp_path / "phone.mov",
        frames=6,
        width=1280,
        height=720,
        rotation=-90,
        timecode="01:02:03:04",
        image=marked,
    )
    video_id, _ = await ingest(resources, path.read_bytes())
    row = await video_row(resources, video_id)
    assert row["status"] == "ready", row["error_message"]
    assert (row["width"], row["height"]) == (720, 1280)
    stored = await resources.pool.fetchrow(
        "SELECT timecode, frame_rate, proxy_frames FROM videos WHERE id = $1", video_id
    )
    assert dict(stored) == {"timecode": "01:02:03:04", "frame_rate": "24/1", "proxy_frames": True}

    bucket = resources.settings.s3_bucket
    answer = await resources.s3.get_object(Bucket=bucket, Key=frame_key(video_id, 5))
    frame = np.asarray(Image.open(io.BytesIO(await answer["Body"].read())))
    assert frame.shape == (1280, 720, 3)
    # Turned clockwise, the stored top-left corner is shown at the top right.
    assert frame[:300, -150:].mean(axis=(0, 1))[0] > 200
    assert frame[:300, :150].mean(axis=(0, 1))[0] < 120
    answer = await resources.s3.get_object(Bucket=bucket, Key=proxy_frame_key(video_id, 5))
    proxy = Image.open(io.BytesIO(await answer["Body"].read()))
    assert (proxy.format, proxy.size) == ("JPEG", (540, 960))
    proxies = [k for k in await stored_keys(resources, video_id) if "/proxy/" in k]
    assert proxies == [proxy_frame_key(video_id, i) for i in range(6)]
