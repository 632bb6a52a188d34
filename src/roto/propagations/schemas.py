"""Wire shapes of propagation: the request, and the propagate job's payload (shared by the API,
which writes it, and the GPU daemon, which reads it, so the two cannot drift)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

Direction = Literal["forward", "backward", "both"]
FrameIndex = Annotated[int, msgspec.Meta(ge=0, description="0-based frame index")]


class PropagationCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Propagate objects' keyframes over a frame range.

    ``object_ids`` null (or left out) means every object of the video that has keyframes. Left
    out, the range runs: forward from the objects' earliest keyframe to the last frame, backward
    from the first frame to their latest keyframe, both ways over the whole video.
    """

    direction: Direction
    object_ids: list[int] | None = None
    frame_start: FrameIndex | None = None
    frame_end: FrameIndex | None = None


class PropagatePayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``payload`` of a propagate job: everything resolved when it was queued."""

    video_id: uuid.UUID
    object_ids: list[int]
    frame_start: int
    frame_end: int
    direction: Direction
