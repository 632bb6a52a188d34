"""Mattes of the matte endpoint: the stored masks rendered by the shared matte code
(``roto.mattes``) as an 8-bit single-channel PNG, exactly as an export writes them."""

from __future__ import annotations

import threading

import numpy as np

from roto.masks.schemas import Rle
from roto.mattes.render import MatteFrame, guide_pixels, matte_png, shape, shape_union
from roto.mattes.schemas import Matte

#: Mattes rendered at once in one process: each holds a band of rows (and, with soft edges, the
#: frame's pixels), so this bounds the endpoint's memory whatever the number of requests.
MAX_RENDERS = 2
_renders = threading.BoundedSemaphore(MAX_RENDERS)


def preview_png(
    rles: list[Rle], height: int, width: int, matte: Matte, frame_jpeg: bytes | None = None
) -> bytes:
    """The PNG matte of one mask, or of the union of several, shaped by ``matte`` (its
    ``smooth_frames`` is not used: a preview is one frame). Blocking: run it in a thread."""
    with _renders:
        if len(rles) == 1:
            segments = shape(rles[0], matte)
        else:
            segments = shape_union(rles, height, width, matte)
        guide = guide_pixels(frame_jpeg) if matte.needs_pixels and frame_jpeg else None
        return matte_png(MatteFrame(matte, [segments], 0, guide), np.uint8)
