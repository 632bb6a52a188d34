"""The ``Matte`` settings of the API: how a binary mask becomes the matte an export writes and
the matte endpoint previews."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

SoftEdges = Literal["none", "guided", "matting"]
MAX_GROW_PX = 64
MAX_FEATHER_PX = 64
MAX_AREA_PX = 4096
MAX_SMOOTH_FRAMES = 4

GrowPx = Annotated[
    int,
    msgspec.Meta(
        ge=-MAX_GROW_PX,
        le=MAX_GROW_PX,
        description="grow (positive) or shrink (negative) the mask by this many pixels: every "
        "pixel within that distance of the mask is added, or of the background removed",
    ),
]
FeatherPx = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_FEATHER_PX,
        description="soften the edge over about this many pixels on each side (a Gaussian of "
        "sigma feather_px/3, applied last)",
    ),
]
HolesPx = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_AREA_PX,
        description="fill holes (background regions not touching the frame's edge) of at most "
        "this many pixels",
    ),
]
IslandsPx = Annotated[
    int,
    msgspec.Meta(
        ge=0, le=MAX_AREA_PX, description="remove regions of the mask of at most this many pixels"
    ),
]
SmoothFrames = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_SMOOTH_FRAMES,
        description="steady the edge over +-N frames: a pixel is inside when it is inside in "
        "most of the frames around (ties keep the frame's own value)",
    ),
]


class Matte(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the mask is shaped, in this order: holes filled, islands removed, grown or shrunk,
    steadied over neighbouring frames, given soft edges from the source's pixels (``guided``:
    a fast edge-aware filter; ``matting``: an alpha-matting solve in a band around the edge,
    slower, for hair and motion blur), then feathered."""

    grow_px: GrowPx = 0
    feather_px: FeatherPx = 0
    fill_holes_px: HolesPx = 0
    remove_islands_px: IslandsPx = 0
    smooth_frames: SmoothFrames = 0
    soft_edges: SoftEdges = "none"

    @property
    def is_binary(self) -> bool:
        """Whether the matte holds only 0 and full (no feather, no soft edges)."""
        return self.feather_px == 0 and self.soft_edges == "none"

    @property
    def needs_pixels(self) -> bool:
        """Whether the source's pixels guide the matte."""
        return self.soft_edges != "none"
