"""The mattes of one frame of an export, from the shared matte code (``roto.mattes``): the
frame's masks, its neighbours' for ``smooth_frames``, and its stored pixels for soft edges."""

from __future__ import annotations

import collections
from collections.abc import Iterator

import numpy as np

from roto.exports.maskstream import FrameMasks
from roto.mattes.render import MatteFrame, matte_array, matte_png
from roto.mattes.schemas import Matte


class FrameMattes:
    """Mattes of each object on one frame, shaped by ``matte``."""

    def __init__(
        self, matte: Matte, window: list[FrameMasks], center: int, guide: np.ndarray | None
    ) -> None:
        self.matte = matte
        self.window = window
        self.center = center
        self.guide = guide

    def frame(self, object_id: int) -> MatteFrame:
        shaped = [masks.shaped(object_id, self.matte) for masks in self.window]
        return MatteFrame(self.matte, shaped, self.center, self.guide)

    def png(self, object_id: int, dtype: type) -> bytes:
        """The object's matte as a grey PNG: the matte endpoint's bytes for the same frame."""
        return matte_png(self.frame(object_id), dtype)

    def alpha(self, object_id: int, dtype: type) -> np.ndarray:
        """The object's matte as an HxW array of ``dtype`` (uint8, uint16 or float16)."""
        return matte_array(self.frame(object_id), dtype)


def windows(
    frames: Iterator[FrameMasks], first: int, last: int, radius: int
) -> Iterator[tuple[FrameMasks, list[FrameMasks], int]]:
    """For each frame ``first``..``last`` of ``frames`` (which may start before ``first`` and
    end after ``last``, by up to ``radius``): (its masks, the masks of the frames within
    ``radius`` of it that ``frames`` has, its place among them). Holds at most 2 x radius + 1
    frames."""
    held: collections.deque[FrameMasks] = collections.deque()
    pending = first

    def ready(latest: int) -> bool:
        return pending <= last and latest >= pending + radius

    def emit() -> tuple[FrameMasks, list[FrameMasks], int]:
        while held and held[0].frame_index < pending - radius:
            held.popleft()
        window = [f for f in held if f.frame_index <= pending + radius]
        center = next(i for i, f in enumerate(window) if f.frame_index == pending)
        return window[center], window, center

    for masks in frames:
        held.append(masks)
        while ready(masks.frame_index):
            yield emit()
            pending += 1
    while pending <= last:
        yield emit()
        pending += 1
