"""Unit tests (no I/O) of the masks rules: parameters, stored formats, hot copies, mattes."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from roto.errors import BadRequest, NotFound
from roto.masks import rle, storage
from roto.masks.loading import is_current, stored_masks
from roto.masks.matte import matte_png
from roto.masks.repository import MaskRow
from roto.masks.schemas import FrameMask
from roto.masks.service import Span, check_span, matte_frame, parse_object_ids


def test_span_defaults_to_the_whole_video() -> None:
    assert check_span(None, None, 10) == Span(0, 9)
    assert check_span(3, 3, 10) == Span(3, 3)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [(-1, None, "frame_start"), (10, None, "frame_start"), (None, 10, "frame_end"),
     (5, 4, "frame_start")],
)  # fmt: skip
def test_bad_spans_name_their_bound(start: int | None, end: int | None, field: str) -> None:
    with pytest.raises(BadRequest, match=field):
        check_span(start, end, 10)


def test_object_ids_are_parsed_sorted_without_repeats() -> None:
    assert parse_object_ids(None) is None
    assert parse_object_ids("3, 1,3") == [1, 3]


@pytest.mark.parametrize("raw", ["", " ", "1,", "x", "1.0", "0", "+1", "\u0661"])
def test_bad_object_ids_are_400(raw: str) -> None:
    with pytest.raises(BadRequest, match="object_ids"):
        parse_object_ids(raw)


def test_matte_names_are_frame_indices_with_png() -> None:
    assert matte_frame("0.png") == 0
    assert matte_frame("0012.png") == 12
    for bad in ("1.PNG", "1.png.png", "a.png", "1"):
        with pytest.raises(NotFound):
            matte_frame(bad)


def _mask(frame: int, source: str = "prompt", score: float = 0.25) -> FrameMask:
    inside = np.zeros((4, 6), dtype=bool)
    inside[1:3, frame % 6] = True
    return FrameMask(1, frame, rle.encode(inside), score, source)  # type: ignore[arg-type]


def test_stored_objects_are_keyframes_or_chunks() -> None:
    assert stored_masks(storage.encode_mask(_mask(2))) == [_mask(2)]
    chunk = [_mask(3), _mask(4)]
    assert stored_masks(storage.encode_chunk(chunk)) == chunk


def _row(source: str, score: float) -> MaskRow:
    return MaskRow(uuid.uuid4(), 1, 2, source, score, 4, "k", None, datetime.now(UTC))


def test_a_hot_copy_counts_only_when_it_matches_the_index() -> None:
    float4 = float(np.float32(0.3))
    assert is_current(_mask(2, score=0.3), _row("prompt", float4))
    assert not is_current(_mask(2, score=0.3), _row("propagation", float4))
    assert not is_current(_mask(2, score=0.4), _row("prompt", float4))
    assert not is_current(_mask(3, score=0.3), _row("prompt", float4))


def test_matte_is_the_union_in_0_and_255() -> None:
    first, second = np.zeros((4, 6), dtype=bool), np.zeros((4, 6), dtype=bool)
    first[0, 0], second[3, 5] = True, True
    image = Image.open(io.BytesIO(matte_png([rle.encode(first), rle.encode(second)], 4, 6)))
    pixels = np.asarray(image)
    assert (image.mode, image.size) == ("L", (6, 4))
    assert np.array_equal(pixels, (first | second).astype(np.uint8) * 255)
