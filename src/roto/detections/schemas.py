"""Wire shapes of detections (text and exemplar prompts)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from roto.jobs.schemas import Job
from roto.masks.schemas import FrameMask
from roto.objects.rules import MAX_OBJECTS
from roto.objects.schemas import Box, VideoObject

#: Exemplar boxes one detection may hold.
MAX_EXEMPLARS = 20
DEFAULT_THRESHOLD = 0.5
DEFAULT_MAX_OBJECTS = 20

Text = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        description="a short noun phrase naming the concept; it becomes the new objects' "
        "category and names",
        examples=["person"],
    ),
]
ExemplarBoxes = Annotated[
    list[Box],
    msgspec.Meta(
        min_length=1,
        max_length=MAX_EXEMPLARS,
        description="boxes [x0, y0, x1, y1] in source pixels around instances to find more of",
    ),
]
Threshold = Annotated[
    float, msgspec.Meta(ge=0.0, le=1.0, description="the detector's score an instance needs")
]
MaxObjects = Annotated[
    int, msgspec.Meta(ge=1, le=MAX_OBJECTS, description="at most this many, best first")
]


class Detection(msgspec.Struct, forbid_unknown_fields=True):
    """Find every instance of ``text`` and/or of the exemplars on one frame (at least one of
    the two); each becomes a new object whose keyframe there holds the instance's mask."""

    frame_index: int
    text: Text | None = None
    exemplar_boxes: ExemplarBoxes | None = None
    threshold: Threshold = DEFAULT_THRESHOLD
    max_objects: MaxObjects = DEFAULT_MAX_OBJECTS
    propagate: bool = False


class DetectionDone(msgspec.Struct):
    """The answer when the detection finished within ``wait`` seconds: the new objects (best
    first; none when nothing matched) and their keyframe masks on the frame."""

    job: Job
    objects: list[VideoObject]
    masks: list[FrameMask]
