"""Wire shapes of exports: the request (the job's payload and result are in roto.jobs.contracts)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

ExportFormat = Literal[
    "png_sequence",
    "rgba_png_sequence",
    "exr_sequence",
    "prores_4444",
    "overlay_mp4",
    "coco_json",
    "yolo_seg",
]
#: Formats that have a 16-bit variant.
DEEP_FORMATS: frozenset[str] = frozenset({"png_sequence"})
#: Largest first frame number (sequence numbers stay readable, at most 7 digits).
MAX_START_NUMBER = 9_999_999

FrameIndex = Annotated[int, msgspec.Meta(ge=0, description="0-based frame index")]
StartNumber = Annotated[
    int, msgspec.Meta(ge=0, le=MAX_START_NUMBER, description="number of the first file")
]


class ExportCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Export stored masks over a frame range.

    ``object_ids`` null (or left out) means every object of the video that has masks. Left out,
    the range is the whole video. Files are numbered from ``start_number``; ``bit_depth`` 16
    applies to ``png_sequence`` only.
    """

    format: ExportFormat
    object_ids: list[int] | None = None
    frame_start: FrameIndex | None = None
    frame_end: FrameIndex | None = None
    start_number: StartNumber = 0
    bit_depth: Literal[8, 16] = 8
