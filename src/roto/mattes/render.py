"""A frame's matte, computed the same way for the export job and the matte endpoint's preview.

The steps, in order: holes filled and islands removed (on the mask's column segments, see
``runs``), grown or shrunk, steadied over the neighbouring frames (a majority vote), given soft
edges from the source's pixels (``edges``), feathered. Everything after the first step works on
bands of rows (``strip_rows``) with enough rows around each band that the band's own rows come
out the same as if the frame were done whole (the soft edges in tiles the same way), so memory
is bounded by the band, not the frame: an 8192x8192 matte never exists as one float array.
The band size depends only on the frame's size, so the preview and the export cut a frame the
same way and agree byte for byte.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from roto.masks.schemas import Rle
from roto.mattes import edges
from roto.mattes.png import png_of_bands
from roto.mattes.runs import (
    Segments,
    empty_segments,
    fill_holes,
    merge,
    rasterise,
    remove_islands,
    segments_of,
)
from roto.mattes.schemas import Matte

#: Pixels a band of rows may hold (about 1 byte each for the mask, 4 for distances and alpha).
BAND_PIXELS = 2 * 1024**2
#: Soft edges are computed in tiles of this many pixels square around the mask's edge.
TILE = 256
#: Full scale of each sample type the matte can be written as.
FULL_SCALE = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


@dataclass(frozen=True)
class EdgeParams:
    """The soft edges' radii for one frame size: proportional to the frame's long side (1080p
    is the reference), so a matte previewed and exported at one size is the same."""

    guided_radius: int
    guided_eps: float
    band: int
    matting_radius: int
    matting_eps: float
    iterations: int

    @classmethod
    def for_size(cls, width: int, height: int) -> EdgeParams:
        # Chosen on bench/matte_quality.py's plate. The matting solve starts from the guided
        # result and stops after 30 steps: its error against the true alpha is lowest there
        # (the colour-line model's exact solution is worse on hair), and a band wider than
        # ~10 px at 1080p lets textured background into the solve.
        scale = max(width, height) / 1920
        return cls(
            guided_radius=max(2, round(8 * scale)),
            guided_eps=1e-4,
            band=max(3, round(10 * scale)),
            matting_radius=max(1, round(2 * scale)),
            matting_eps=1e-5,
            iterations=30,
        )

    def halo(self, soft_edges: str) -> int:
        """Rows a tile needs around it for its pixels to come out as in the whole frame."""
        if soft_edges == "guided":
            return 2 * self.guided_radius + 2
        if soft_edges == "matting":
            return self.band + 2 * max(self.guided_radius, self.matting_radius) + 8
        return 0


def shape(rle: Rle, matte: Matte) -> Segments:
    """The mask of ``rle`` with holes filled and islands removed, as segments."""
    segments = fill_holes(segments_of(rle), matte.fill_holes_px)
    return remove_islands(segments, matte.remove_islands_px)


def shape_union(rles: list[Rle], height: int, width: int, matte: Matte) -> Segments:
    """The union of masks, shaped as one (the preview of every object at once)."""
    parts = [segments_of(r) for r in rles] or [empty_segments(height, width)]
    merged = merge(parts)
    return remove_islands(fill_holes(merged, matte.fill_holes_px), matte.remove_islands_px)


def strip_rows(width: int) -> int:
    return max(32, BAND_PIXELS // max(1, width))


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Exact Euclidean grow (positive) or shrink (negative); outside the array is neither
    mask nor background (a mask touching the frame's edge does not shrink from it)."""
    if pixels == 0:
        return mask
    reach = abs(pixels) + 1e-3
    if pixels > 0:
        far = cv2.distanceTransform((~mask).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        grown: np.ndarray = mask | (far <= reach)
        return grown
    depth = cv2.distanceTransform(mask.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    shrunk: np.ndarray = mask & (depth > reach)
    return shrunk


def _feather(alpha: np.ndarray, pixels: int) -> np.ndarray:
    size = 2 * pixels + 1
    blurred: np.ndarray = cv2.GaussianBlur(
        alpha, (size, size), pixels / 3, borderType=cv2.BORDER_REPLICATE
    )
    return blurred


class MatteFrame:
    """One matte to compute: the shaped masks of the frame and its neighbours (``center`` is
    the frame's place among them) and, for soft edges, the frame's pixels (HxWx3 uint8)."""

    def __init__(
        self,
        matte: Matte,
        window: list[Segments],
        center: int,
        guide: np.ndarray | None = None,
    ) -> None:
        self.matte = matte
        self.window = window
        self.center = center
        self.height, self.width = window[center].height, window[center].width
        if matte.needs_pixels and guide is None:
            raise ValueError(f"soft_edges {matte.soft_edges} needs the frame's pixels")
        self.guide = guide
        self.params = EdgeParams.for_size(self.width, self.height)

    def bands(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, alpha) for each band of rows, top to bottom: boolean for a binary
        matte, else float32 in 0..1."""
        matte, height = self.matte, self.height
        soft_halo = self.params.halo(matte.soft_edges)
        after = soft_halo + matte.feather_px
        rows = strip_rows(self.width)
        for row0 in range(0, height, rows):
            row1 = min(height, row0 + rows)
            top, bottom = max(0, row0 - after), min(height, row1 + after)
            binary = self._voted(top, bottom)
            if matte.is_binary:
                yield row0, binary[row0 - top : row1 - top]
                continue
            alpha = binary.astype(np.float32)
            if matte.needs_pixels:
                inner = (max(0, row0 - matte.feather_px), min(height, row1 + matte.feather_px))
                self._soften(alpha, binary, top, inner)
            if matte.feather_px:
                alpha = _feather(alpha, matte.feather_px)
            yield row0, alpha[row0 - top : row1 - top]

    def _voted(self, top: int, bottom: int) -> np.ndarray:
        """Rows top..bottom-1 grown or shrunk, then the majority of the window (ties: the
        frame's own value)."""
        grow = self.matte.grow_px
        low, high = max(0, top - abs(grow)), min(self.height, bottom + abs(grow))
        cut = slice(top - low, bottom - low)
        shaped = [_grow(rasterise(s, low, high), grow)[cut] for s in self.window]
        own = shaped[self.center]
        if len(shaped) == 1:
            return own
        votes = np.zeros(own.shape, dtype=np.uint8)
        for mask in shaped:
            votes += mask
        count = len(shaped)
        voted: np.ndarray = (2 * votes.astype(np.uint16) > count) | (
            (2 * votes.astype(np.uint16) == count) & own
        )
        return voted

    def _soften(
        self, alpha: np.ndarray, binary: np.ndarray, top: int, inner: tuple[int, int]
    ) -> None:
        """Soft edges in place on the rows ``inner`` of ``alpha`` (which starts at row ``top``),
        a tile at a time where the mask has an edge."""
        assert self.guide is not None
        params, halo = self.params, self.params.halo(self.matte.soft_edges)
        reach = 2 * params.guided_radius + params.band
        # Where an edge is within reach: the tiles that can change.
        size = 2 * reach + 1
        near = cv2.boxFilter(
            binary.view(np.uint8), cv2.CV_32S, (size, size), normalize=False,
            borderType=cv2.BORDER_REPLICATE,
        )  # fmt: skip
        edge = (near > 0) & (near < size * size)
        rows, cols = binary.shape
        for y0 in range(inner[0] - top, inner[1] - top, TILE):
            y1 = min(inner[1] - top, y0 + TILE)
            for x0 in range(0, cols, TILE):
                x1 = min(cols, x0 + TILE)
                if not edge[y0:y1, x0:x1].any():
                    continue
                ty0, ty1 = max(0, y0 - halo), min(rows, y1 + halo)
                tx0, tx1 = max(0, x0 - halo), min(cols, x1 + halo)
                rgb = self.guide[top + ty0 : top + ty1, tx0:tx1].astype(np.float32) / 255
                tile = self._soft_tile(rgb, binary[ty0:ty1, tx0:tx1])
                alpha[y0:y1, x0:x1] = tile[y0 - ty0 : y1 - ty0, x0 - tx0 : x1 - tx0]

    def _soft_tile(self, rgb: np.ndarray, binary: np.ndarray) -> np.ndarray:
        params = self.params
        p = binary.astype(np.float32)
        guided = edges.guided_filter(rgb, p, params.guided_radius, params.guided_eps)
        # Far from the edge the filter can only return the mask; keep it exactly.
        size = 4 * params.guided_radius + 1
        near = cv2.boxFilter(binary.view(np.uint8), cv2.CV_32S, (size, size), normalize=False)
        moving = (near > 0) & (near < size * size)
        soft = np.where(moving, guided, p)
        if self.matte.soft_edges == "guided":
            return soft
        depth = cv2.distanceTransform(binary.view(np.uint8), cv2.DIST_L2, 3)
        far = cv2.distanceTransform((~binary).view(np.uint8), cv2.DIST_L2, 3)
        unknown = np.where(binary, depth, far) <= params.band
        if not unknown.any():
            return p
        solved = edges.solve_matte(
            rgb,
            ~unknown,
            p,
            soft,
            params.matting_radius,
            params.matting_eps,
            params.iterations,
        )
        return np.where(unknown, solved, p)


def quantize(alpha: np.ndarray, dtype: np.dtype[np.generic] | type) -> np.ndarray:
    """``alpha`` (boolean or 0..1 floats) as samples of ``dtype``: uint8 and uint16 at their
    full scale, float16 or float32 as they are."""
    target = np.dtype(dtype)
    if target in FULL_SCALE:
        full = FULL_SCALE[target]
        if alpha.dtype == bool:
            return alpha.astype(target) * target.type(full)
        return np.rint(alpha * np.float32(full)).astype(target)
    return alpha.astype(target)


def matte_array(frame: MatteFrame, dtype: np.dtype[np.generic] | type) -> np.ndarray:
    """The whole matte as an HxW array of ``dtype`` (for formats that write whole frames)."""
    out = np.empty((frame.height, frame.width), dtype=dtype)
    for row0, alpha in frame.bands():
        out[row0 : row0 + alpha.shape[0]] = quantize(alpha, dtype)
    return out


def window_bounds(frame_index: int, frame_count: int, radius: int) -> tuple[int, int]:
    """The frames (first, last) a matte of ``frame_index`` looks at, within the video."""
    return max(0, frame_index - radius), min(frame_count - 1, frame_index + radius)


def matte_png(frame: MatteFrame, dtype: np.dtype[np.generic] | type = np.uint8) -> bytes:
    """The matte as a grey PNG of ``dtype`` samples (uint8 or uint16), encoded band by band:
    the bytes of the matte endpoint and of a ``png_sequence`` export's file."""
    bands = (quantize(alpha, dtype) for _, alpha in frame.bands())
    return png_of_bands(frame.width, frame.height, dtype, bands)


def guide_pixels(jpeg: bytes) -> np.ndarray:
    """A stored frame (JPEG) as the HxWx3 uint8 pixels that guide soft edges; the export and
    the preview both decode the same stored frame with this, so they see the same pixels."""
    with Image.open(io.BytesIO(jpeg)) as image:
        return np.asarray(image.convert("RGB"))
