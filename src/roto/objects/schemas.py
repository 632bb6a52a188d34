"""Wire shapes of objects and prompts."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from roto.jobs.schemas import Job
from roto.masks.schemas import FrameMask

Color = Annotated[
    str,
    msgspec.Meta(pattern="^#[0-9a-fA-F]{6}$", description="#rrggbb", examples=["#e6194b"]),
]
ObjectName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Point = tuple[float, float]
Box = tuple[float, float, float, float]


class ObjectCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new object; without a name it is "Object N", without a colour it gets the palette's."""

    name: ObjectName | None = None
    color: Color | None = None


class ObjectUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """A rename or a new colour; a field left out keeps its value."""

    name: ObjectName | None = None
    color: Color | None = None


class VideoObject(msgspec.Struct):
    """Something tracked through a video; ``id`` is a small integer never reused in the video."""

    id: int
    name: str
    color: str
    created_at: str


class Prompt(msgspec.Struct, forbid_unknown_fields=True):
    """Clicks (and optionally a box) on one frame for one object, in source pixels."""

    object_id: int
    frame_index: int
    points: list[Point] = msgspec.field(default_factory=list)
    labels: list[Literal[0, 1]] = msgspec.field(default_factory=list)
    box: Box | None = None
    mode: Literal["add", "replace"] = "add"


class PromptMask(msgspec.Struct):
    """The answer when the mask was ready within ``wait`` seconds."""

    job: Job
    mask: FrameMask
