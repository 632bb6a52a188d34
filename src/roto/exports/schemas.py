"""Wire shapes of exports: the request (the job's payload and result are in roto.jobs.contracts)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from roto.mattes.schemas import Matte

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
DEEP_FORMATS: frozenset[str] = frozenset({"png_sequence", "rgba_png_sequence"})
#: Formats that write mattes, shaped by ``matte``.
MATTE_FORMATS: frozenset[str] = frozenset(
    {"png_sequence", "rgba_png_sequence", "exr_sequence", "prores_4444"}
)
#: Formats that write datasets, shaped by ``dataset``.
DATASET_FORMATS: frozenset[str] = frozenset({"coco_json", "yolo_seg"})
SplitName = Literal["train", "val", "test"]
#: How far the split shares may sum from 1.
SPLIT_TOLERANCE = 1e-6
#: Largest first frame number (sequence numbers stay readable, at most 7 digits).
MAX_START_NUMBER = 9_999_999

FrameIndex = Annotated[int, msgspec.Meta(ge=0, description="0-based frame index")]
StartNumber = Annotated[
    int, msgspec.Meta(ge=0, le=MAX_START_NUMBER, description="number of the first file")
]


FrameStep = Annotated[
    int, msgspec.Meta(ge=1, le=1000, description="annotate every N-th frame of the range")
]
SplitShare = Annotated[float, msgspec.Meta(gt=0, le=1)]


class Dataset(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a dataset export (``coco_json``, ``yolo_seg``) holds besides its annotations.

    ``splits`` cuts the annotated frames into contiguous blocks in the order train, val, test,
    each its share of the frames (the shares sum to 1), so neighbouring frames, nearly the same
    picture, do not land on both sides of a split.
    """

    include_frames: bool = True
    frame_step: FrameStep = 1
    splits: dict[SplitName, SplitShare] | None = None


class ExportCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Export stored masks over a frame range.

    ``object_ids`` null (or left out) means every object of the video that has masks. Left out,
    the range is the whole video. Files are numbered from ``start_number``; ``bit_depth`` 16
    applies to ``png_sequence`` and ``rgba_png_sequence`` (left out: 8, except an RGBA export of
    a source deeper than 8 bits, which keeps 16). ``matte`` shapes the mattes of the matte
    formats, ``dataset`` the datasets.
    """

    format: ExportFormat
    object_ids: list[int] | None = None
    frame_start: FrameIndex | None = None
    frame_end: FrameIndex | None = None
    start_number: StartNumber = 0
    bit_depth: Literal[8, 16] | None = None
    matte: Matte | None = None
    dataset: Dataset | None = None
