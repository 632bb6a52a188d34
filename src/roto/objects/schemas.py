"""Wire shapes of objects and prompts."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from roto.jobs.schemas import Job
from roto.masks.schemas import FrameMask, Rle

Color = Annotated[
    str,
    msgspec.Meta(pattern="^#[0-9a-fA-F]{6}$", description="#rrggbb", examples=["#e6194b"]),
]
ObjectName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Category = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=100,
        description="the class dataset exports use (many objects can share one)",
        examples=["person"],
    ),
]
Point = tuple[float, float]
Box = tuple[float, float, float, float]


class ObjectCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new object; without a name it is "Object N", without a colour it gets the palette's,
    without a category it is "object"."""

    name: ObjectName | None = None
    color: Color | None = None
    category: Category | None = None


class ObjectUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """A rename, a new colour or a new category; a field left out keeps its value."""

    name: ObjectName | None = None
    color: Color | None = None
    category: Category | None = None


class VideoObject(msgspec.Struct):
    """Something tracked through a video; ``id`` is a small integer never reused in the video."""

    id: int
    name: str
    color: str
    category: str
    created_at: str


class Prompt(msgspec.Struct, forbid_unknown_fields=True):
    """Clicks, a box and/or an imported matte on one frame for one object, in source pixels.

    ``mask`` imports an existing matte (COCO RLE at the source resolution) as the object's mask
    on that frame; clicks and a box in the same prompt then refine it."""

    object_id: int
    frame_index: int
    points: list[Point] = msgspec.field(default_factory=list)
    labels: list[Literal[0, 1]] = msgspec.field(default_factory=list)
    box: Box | None = None
    mask: Rle | None = None
    mode: Literal["add", "replace"] = "add"


class PromptRecord(msgspec.Struct):
    """A stored prompt; ``mask`` says whether it imported a matte."""

    id: str
    object_id: int
    frame_index: int
    points: list[Point]
    labels: list[int]
    box: Box | None
    mask: bool
    created_at: str


class PromptMask(msgspec.Struct):
    """The answer when the mask was ready within ``wait`` seconds."""

    job: Job
    mask: FrameMask
    prompt: PromptRecord


class PromptJob(msgspec.Struct):
    """The answer when the mask was not ready within ``wait`` seconds (or the job failed)."""

    job: Job
    prompt: PromptRecord


class PromptRemoved(msgspec.Struct):
    """The answer to deleting a prompt: the keyframe's recomputed mask (``job`` and ``mask``
    null when no prompt is left on the frame, which is then no longer a keyframe), and the
    prompt that went (post it again to redo)."""

    job: Job | None
    mask: FrameMask | None
    prompt: PromptRecord
