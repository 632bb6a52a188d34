"""Wire shapes of propagation: the request (the job's payload is in roto.jobs.contracts)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from roto.jobs.contracts import Direction

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


class Span(msgspec.Struct):
    """Frames ``frame_start``..``frame_end`` of one object: ``fresh`` (propagated from the
    keyframes as they are now), ``stale`` (from keyframes that changed since: a correction) or
    ``missing`` (never propagated). Keyframes themselves are in no span."""

    object_id: int
    frame_start: int
    frame_end: int
    state: Literal["fresh", "stale", "missing"]


class SpanList(msgspec.Struct):
    items: list[Span]
