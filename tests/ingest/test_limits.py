"""Unit tests of the ingest checks: limits, truncation and the frame pipeline's depth."""

from __future__ import annotations

import pytest

from roto.media.frames import MAX_IN_FLIGHT, MIN_IN_FLIGHT, frames_in_flight
from roto.media.probe import ProbeInfo, check_complete, check_limits
from roto.settings import load_settings
from roto.worker.contract import JobFailed

SETTINGS = load_settings(
    {}, max_width=1920, max_height=1080, max_duration_s=60.0, max_upload_bytes=10_000
)


def info(**changes: object) -> ProbeInfo:
    values: dict[str, object] = {
        "width": 1280,
        "height": 720,
        "fps": 25.0,
        "codec": "h264",
        "duration_s": 10.0,
        "frame_estimate": 250,
    }
    values.update(changes)
    return ProbeInfo(**values)  # type: ignore[arg-type]


def refusal(probe: ProbeInfo, size: int = 100) -> JobFailed:
    with pytest.raises(JobFailed) as caught:
        check_limits(probe, size, SETTINGS)
    return caught.value


def test_video_within_every_limit_passes() -> None:
    check_limits(info(), 100, SETTINGS)


def test_too_wide_names_the_resolution_and_the_limit() -> None:
    error = refusal(info(width=3840, height=720))
    assert error.code == "resolution_too_large"
    assert "3840x720" in error.message and "1920x1080" in error.message


def test_too_long_names_the_duration_and_the_limit() -> None:
    error = refusal(info(duration_s=61.5))
    assert error.code == "too_long"
    assert "61.50 s" in error.message and "60 s" in error.message


def test_duration_falls_back_to_the_frame_estimate() -> None:
    assert refusal(info(duration_s=None, frame_estimate=2000)).code == "too_long"


def test_too_large_names_the_size_and_the_limit() -> None:
    error = refusal(info(), size=10_001)
    assert error.code == "too_large"
    assert "10001 bytes" in error.message and "10000 bytes" in error.message


def test_far_fewer_frames_than_announced_is_truncated() -> None:
    with pytest.raises(JobFailed) as caught:
        check_complete(100, info(frame_estimate=250))
    assert caught.value.code == "truncated"
    assert "100 of the 250" in caught.value.message


def test_a_frame_or_two_short_of_the_estimate_is_fine() -> None:
    check_complete(248, info(frame_estimate=250))
    check_complete(10, info(frame_estimate=0))


def test_no_decodable_frame_is_truncated() -> None:
    with pytest.raises(JobFailed, match="no frame"):
        check_complete(0, info())


def test_pipeline_depth_shrinks_with_frame_size() -> None:
    assert frames_in_flight(320, 240) == MAX_IN_FLIGHT
    assert MIN_IN_FLIGHT < frames_in_flight(3840, 2160) < MAX_IN_FLIGHT
    assert frames_in_flight(8192, 8192) == MIN_IN_FLIGHT
