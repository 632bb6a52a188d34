"""Wire shapes of masks: COCO RLE (compressed string form) at the source resolution."""

from __future__ import annotations

from typing import Literal

import msgspec

MaskSource = Literal["prompt", "propagation"]


class Rle(msgspec.Struct, frozen=True):
    """``size`` is [height, width]; ``counts`` is pycocotools' compressed string."""

    size: list[int]
    counts: str


class FrameMask(msgspec.Struct, frozen=True):
    object_id: int
    frame_index: int
    rle: Rle
    score: float
    source: MaskSource


class FrameMasks(msgspec.Struct, frozen=True):
    frame_index: int
    masks: list[FrameMask]


class VideoMasks(msgspec.Struct, frozen=True):
    """Frames with masks in a range; ``next_frame_start`` is where to ask again when the answer
    stopped before the end of the range (at most a capped number of frames), else null."""

    video_id: str
    width: int
    height: int
    frames: list[FrameMasks]
    next_frame_start: int | None = None
