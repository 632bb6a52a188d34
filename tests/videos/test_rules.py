"""Unit tests (no I/O): storage layout, part planning, input rules, strict bodies, keys."""

from __future__ import annotations

import math

import pytest

from roto.bodies import decode_strict
from roto.errors import BadRequest, Unprocessable
from roto.idempotency import check_key
from roto.settings import GiB, MiB
from roto.storage import MAX_PARTS, plan_parts
from roto.videos.schemas import CompletedPart, UploadComplete, VideoCreate
from roto.videos.service import check_new_video, sorted_parts
from roto.videos.storage import frame_key, source_key, video_prefix

VIDEO_ID = "0b5c1f9e-8d1a-4a4e-9a39-3d1f2b7c9e10"


def test_every_object_of_a_video_lives_under_its_prefix() -> None:
    assert video_prefix(VIDEO_ID) == f"videos/{VIDEO_ID}/"
    assert source_key(VIDEO_ID) == f"videos/{VIDEO_ID}/source"
    assert frame_key(VIDEO_ID, 7) == f"videos/{VIDEO_ID}/frames/000007.jpg"
    assert frame_key(VIDEO_ID, 123456) == f"videos/{VIDEO_ID}/frames/123456.jpg"


def test_frame_keys_sort_in_frame_order() -> None:
    keys = [frame_key(VIDEO_ID, i) for i in (0, 9, 10, 99, 100, 999_999)]
    assert sorted(keys) == keys


def test_parts_cover_the_file_with_the_preferred_size() -> None:
    assert plan_parts(11 * MiB, 5 * MiB) == (5 * MiB, 3)
    assert plan_parts(10 * MiB, 5 * MiB) == (5 * MiB, 2)


def test_part_size_grows_to_stay_within_ten_thousand_parts() -> None:
    size = 1000 * GiB
    part_size, count = plan_parts(size, 64 * MiB)
    assert count <= MAX_PARTS
    assert part_size * count >= size
    assert part_size == math.ceil(size / MAX_PARTS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("filename", "a/b.mp4"),
        ("filename", "a\\b.mp4"),
        ("filename", "tab\there.mp4"),
        ("filename", "del\x7f.mp4"),
        ("filename", "."),
        ("filename", " "),
        ("content_type", "audio/mpeg"),
        ("content_type", "video/"),
        ("content_type", "video/mp4; codecs=avc1"),
        ("size_bytes", 2 * GiB + 1),
    ],
)
def test_new_video_rules_name_the_field(field: str, value: object) -> None:
    body = {"filename": "clip.mp4", "content_type": "video/mp4", "size_bytes": 1, field: value}
    with pytest.raises(Unprocessable) as caught:
        check_new_video(VideoCreate(**body), max_upload_bytes=2 * GiB)  # type: ignore[arg-type]
    assert caught.value.detail.startswith(field)


@pytest.mark.parametrize(
    "content_type", ["video/mp4", "video/quicktime", "VIDEO/MP4", "application/octet-stream"]
)
def test_video_and_generic_content_types_are_accepted(content_type: str) -> None:
    check_new_video(VideoCreate("clip 01 (final).mov", content_type, 10), max_upload_bytes=100)


def test_parts_are_sorted_and_may_not_repeat() -> None:
    parts = [CompletedPart(2, "b"), CompletedPart(1, "a")]
    assert sorted_parts(parts) == [(1, "a"), (2, "b")]
    with pytest.raises(Unprocessable, match="parts"):
        sorted_parts([CompletedPart(1, "a"), CompletedPart(1, "b")])
    with pytest.raises(Unprocessable, match="parts"):
        sorted_parts(None)


def test_strict_body_refuses_numbers_in_strings_and_names_the_field() -> None:
    with pytest.raises(BadRequest) as caught:
        decode_strict(b'{"parts": [{"part_number": "1", "etag": "x"}]}', UploadComplete)
    assert caught.value.detail.startswith("parts[0].part_number:")
    assert decode_strict(b"{}", UploadComplete) == UploadComplete(parts=None)


def test_strict_body_names_the_body_for_malformed_json() -> None:
    with pytest.raises(BadRequest, match=r"^body:"):
        decode_strict(b"{", UploadComplete)


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "tab\t", "caf\u00e9"])
def test_bad_idempotency_keys_are_refused(key: str) -> None:
    with pytest.raises(BadRequest, match="Idempotency-Key"):
        check_key(key)


def test_good_idempotency_keys_pass_through() -> None:
    assert check_key(None) is None
    assert (
        check_key("8f14e45f-ceea-467f-a0e6-3c7b1f8a0d52") == "8f14e45f-ceea-467f-a0e6-3c7b1f8a0d52"
    )
