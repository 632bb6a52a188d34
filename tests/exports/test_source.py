"""Reading a late frame range of the source: with the timestamps ingest stores, decoding starts
at the keyframe before the range instead of at frame 0, and gives the very same frames."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from roto.exports.source import SourceVideo
from roto.media.frame_pts import decode_pts, encode_pts
from roto.media.frames import decode_frames
from roto.worker.contract import JobFailed
from tests.media import make_video, mpegts_segment

FRAMES, KEYFRAME_EVERY = 60, 8


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """H.264 with B-frames (stored out of presentation order) and a keyframe every 8 frames."""
    path = tmp_path_factory.mktemp("source") / "clip.mp4"
    return make_video(
        path, frames=FRAMES, width=96, height=64, keyframe_every=KEYFRAME_EVERY, bframes=2
    )


@pytest.fixture(scope="module")
def reference(clip: Path) -> list[np.ndarray]:
    """Every frame, decoded from the start by plain PyAV."""
    with av.open(str(clip)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def table(clip: Path) -> np.ndarray:
    """The timestamps as ingest records them, through the stored encoding."""
    stamps = [pts for _, pts in decode_frames(clip)]
    assert all(p is not None for p in stamps)
    return decode_pts(encode_pts([int(p) for p in stamps if p is not None]))


def read(clip: Path, first: int, last: int, pts: np.ndarray | None) -> tuple[list[np.ndarray], int]:
    """Frames ``first``..``last`` through SourceVideo, and how many frames it decoded."""
    source = SourceVideo(io.FileIO(clip), pts)
    try:
        frames = list(source.frames(first, last))
    finally:
        source.close()
    return frames, source.decoded


def assert_same(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        assert np.array_equal(a, b), f"frame {index} of the range differs"


@pytest.mark.parametrize(("first", "last"), [(37, 45), (40, 40), (41, 59), (1, 3)])
def test_a_late_range_decodes_from_its_keyframe_and_equals_decoding_from_the_start(
    clip: Path, reference: list[np.ndarray], table: np.ndarray, first: int, last: int
) -> None:
    frames, decoded = read(clip, first, last, table)

    assert_same(frames, reference[first : last + 1])
    keyframe = first - first % KEYFRAME_EVERY
    # From the keyframe on, plus what the decoder holds back for B-frames: never from frame 0.
    assert decoded <= last - keyframe + 1 + 4, decoded
    if keyframe > 0:
        assert decoded < first


def test_without_timestamps_the_range_is_decoded_from_the_first_frame(
    clip: Path, reference: list[np.ndarray]
) -> None:
    frames, decoded = read(clip, 37, 45, None)

    assert_same(frames, reference[37:46])
    assert decoded >= 46


def test_timestamps_that_disagree_with_the_stream_fall_back_to_decoding_from_the_start(
    clip: Path, reference: list[np.ndarray], table: np.ndarray
) -> None:
    # Right up to frame 40, then a timestamp the stream does not have.
    wrong = table.copy()
    wrong[40] += 1
    frames, decoded = read(clip, 37, 45, wrong)

    assert_same(frames, reference[37:46])
    assert decoded >= 41 + 4  # the seek's frames, then from frame 0 again


def test_timestamps_past_the_end_are_not_trusted(
    clip: Path, reference: list[np.ndarray], table: np.ndarray
) -> None:
    frames, _ = read(clip, 50, 59, table[:55])

    assert_same(frames, reference[50:60])


def test_the_export_decoder_refuses_frames_other_than_the_ingested_size(tmp_path: Path) -> None:
    path = tmp_path / "bomb.ts"
    path.write_bytes(mpegts_segment(64, 64, 12) + mpegts_segment(8208, 16, 3))
    source = SourceVideo(io.FileIO(path), size=(64, 64))
    try:
        with pytest.raises(JobFailed) as caught:
            list(source.frames(0, 14))
    finally:
        source.close()
    assert caught.value.code == "resolution_too_large"
    assert "frame 12 is 8208x16" in caught.value.message


def test_the_export_decoder_refuses_a_huge_picture_before_decoding_it(tmp_path: Path) -> None:
    path = tmp_path / "bomb.ts"
    path.write_bytes(mpegts_segment(64, 64, 12) + mpegts_segment(2048, 2048, 2))
    source = SourceVideo(io.FileIO(path), size=(64, 64), limits=(256, 256))
    try:
        with pytest.raises(JobFailed) as caught:
            list(source.frames(0, 13))
    finally:
        source.close()
    assert caught.value.code == "frame_size_changed"
    assert "not decoded" in caught.value.message


def test_the_export_decoder_opens_only_accepted_formats(tmp_path: Path, clip: Path) -> None:
    playlist = tmp_path / "list.ffconcat"
    playlist.write_text(f"ffconcat version 1.0\nfile {clip}\n")
    with pytest.raises(JobFailed) as caught:
        SourceVideo(io.FileIO(playlist))
    assert caught.value.code == "source_unreadable"


def test_a_rotated_source_decodes_upright_and_a_deep_one_at_16_bits(tmp_path: Path) -> None:
    path = make_video(
        tmp_path / "phone.mp4", frames=2, width=96, height=64, rotation=90, pix_fmt="yuv420p10le"
    )
    source = SourceVideo(io.FileIO(path), size=(64, 96), deep=True)
    try:
        frames = list(source.frames(0, 1))
    finally:
        source.close()
    assert source.bits == 10
    assert frames[0].shape == (96, 64, 3) and frames[0].dtype == np.uint16
    with av.open(str(path)) as container:
        stored = next(container.decode(video=0)).to_ndarray(format="rgb48le")
    # +90 degrees is a quarter turn counter-clockwise.
    assert np.array_equal(frames[0], np.rot90(stored))
