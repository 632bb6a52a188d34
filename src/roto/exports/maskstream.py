"""Stored masks of an export, a window of frames at a time: index rows from PostgreSQL, RLE from
the Redis hot copy or S3 (``MaskLoader``), so memory holds one window, not the video."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np

from roto.exports.bridge import LoopBridge
from roto.masks import rle
from roto.masks.loading import MaskLoader
from roto.masks.repository import list_masks
from roto.masks.schemas import FrameMask, Rle
from roto.mattes.render import shape
from roto.mattes.runs import Segments, empty_segments
from roto.mattes.schemas import Matte
from roto.resources import Resources
from roto.worker.contract import JobFailed

#: Frames read per window; a propagation chunk spans about this many.
WINDOW_FRAMES = 32


class FrameMasks:
    """One frame's stored masks by object; an object without one has an empty mask."""

    def __init__(
        self, frame_index: int, stored: dict[int, FrameMask], height: int, width: int
    ) -> None:
        self.frame_index = frame_index
        #: The stored masks by object id, with their score and source.
        self.stored = stored
        self.rles: dict[int, Rle] = {oid: mask.rle for oid, mask in stored.items()}
        self._shape = (height, width)
        self._decoded: dict[int, np.ndarray] = {}
        self._shaped: dict[int, Segments] = {}

    def shaped(self, object_id: int, matte: Matte) -> Segments:
        """The object's mask with holes filled and islands removed, as segments, made once
        (a frame is in the smoothing window of its neighbours too)."""
        found = self._shaped.get(object_id)
        if found is None:
            stored = self.rles.get(object_id)
            found = empty_segments(*self._shape) if stored is None else shape(stored, matte)
            self._shaped[object_id] = found
        return found

    def mask(self, object_id: int) -> np.ndarray:
        """The object's HxW boolean mask (all False where none is stored), decoded once."""
        found = self._decoded.get(object_id)
        if found is None:
            stored = self.rles.get(object_id)
            found = np.zeros(self._shape, dtype=bool) if stored is None else rle.decode(stored)
            self._decoded[object_id] = found
        return found


class MaskStream:
    """Reads the masks of ``object_ids`` over a frame range, in frame order."""

    def __init__(
        self,
        bridge: LoopBridge,
        resources: Resources,
        video_id: uuid.UUID,
        object_ids: list[int],
        height: int,
        width: int,
    ) -> None:
        self._bridge = bridge
        self._resources = resources
        self._video_id = video_id
        self._object_ids = object_ids
        self._height = height
        self._width = width

    def frames(self, first: int, last: int) -> Iterator[FrameMasks]:
        """Every frame of ``first``..``last``, with the masks stored for it."""
        for start in range(first, last + 1, WINDOW_FRAMES):
            end = min(last, start + WINDOW_FRAMES - 1)
            window = self._bridge.call(self._load(start, end))
            for frame_index in range(start, end + 1):
                yield FrameMasks(
                    frame_index, window.get(frame_index, {}), self._height, self._width
                )

    async def _load(self, start: int, end: int) -> dict[int, dict[int, FrameMask]]:
        async with self._resources.pool.acquire() as conn:
            rows = await list_masks(
                conn,
                self._video_id,
                frame_start=start,
                frame_end=end,
                object_ids=self._object_ids,
                limit=(end - start + 1) * len(self._object_ids),
            )
        # A loader per window: its cache of S3 objects must not grow with the video.
        loader = MaskLoader(self._resources, [self._height, self._width])
        masks = await loader.load(rows)
        if len(masks) != len(rows):
            found = {(m.object_id, m.frame_index) for m in masks}
            lost = next(r for r in rows if (r.object_id, r.frame_index) not in found)
            raise JobFailed(
                "mask_unreadable",
                f"the stored mask of object {lost.object_id} on frame {lost.frame_index} is "
                "missing from storage or unreadable; propagate or prompt that object again",
            )
        window: dict[int, dict[int, FrameMask]] = {}
        for mask in masks:
            window.setdefault(mask.frame_index, {})[mask.object_id] = mask
        return window
