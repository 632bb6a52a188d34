"""Masks as column segments, straight from their COCO RLE: hole filling, island removal, unions
and rasterising a band of rows, without ever holding the whole frame as pixels.

COCO RLE runs go down the columns (Fortran order), so a mask is a list of segments ``(column,
first row, end row)``, sorted by column then row. Its size is that of the RLE, not the frame's:
an 8192x8192 matte of a blob is a few thousand segments. Connected regions are found on the
segments (two segments in neighbouring columns touch when their rows overlap), so hole filling
and island removal cost memory in proportion to the mask's outline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from roto.masks.schemas import Rle

_FIRST_CHAR, _ALPHABET = 48, 64


def rle_runs(rle: Rle) -> np.ndarray:
    """The run lengths of a compressed COCO RLE (zeros first), as pycocotools' ``rleFrString``
    reads them, vectorised. ValueError for a string outside the format."""
    codes = np.frombuffer(rle.counts.encode("ascii"), dtype=np.uint8).astype(np.int64)
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    codes -= _FIRST_CHAR
    if codes.min() < 0 or codes.max() >= _ALPHABET:
        raise ValueError("a character is not in the compressed RLE alphabet")
    ends = np.flatnonzero((codes & 0x20) == 0)
    if ends.size == 0 or ends[-1] != codes.size - 1:
        raise ValueError("the counts end in the middle of a number")
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    place = np.arange(codes.size) - np.repeat(starts, lengths)
    values = np.add.reduceat((codes & 0x1F) << (5 * place), starts)
    negative = (codes[ends] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * lengths[negative])
    # From the fourth run on, each is stored as the difference to the run two before it.
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    if runs.size and runs.min() < 0:
        raise ValueError("a run length is negative")
    return runs


@dataclass(frozen=True)
class Segments:
    """A mask of ``height`` x ``width`` as sorted, disjoint, non-touching column segments."""

    height: int
    width: int
    col: np.ndarray  # int64
    y0: np.ndarray  # first row, int64
    y1: np.ndarray  # end row (exclusive), int64

    @property
    def area(self) -> int:
        return int((self.y1 - self.y0).sum())

    def _keys(self) -> tuple[np.ndarray, np.ndarray]:
        # Rows of one column never reach the next column's keys: a gap of two rows.
        stride = self.height + 2
        return self.col * stride + self.y0, self.col * stride + self.y1


def empty_segments(height: int, width: int) -> Segments:
    """A mask with nothing inside."""
    none = np.zeros(0, dtype=np.int64)
    return Segments(height, width, none, none, none)


def _split(starts: np.ndarray, ends: np.ndarray, height: int, width: int) -> Segments:
    """Segments of the flat (column-major) intervals ``[starts, ends)``."""
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    first_col = starts // height
    last_col = (ends - 1) // height
    count = last_col - first_col + 1
    index = np.repeat(np.arange(starts.size), count)
    offset = np.arange(index.size) - np.repeat(np.cumsum(count) - count, count)
    col = first_col[index] + offset
    y0 = np.where(offset == 0, starts[index] - col * height, 0)
    y1 = np.where(col == last_col[index], ends[index] - col * height, height)
    return Segments(height, width, col, y0, y1)


def segments_of(rle: Rle) -> Segments:
    """The foreground of ``rle`` as segments."""
    height, width = (int(v) for v in rle.size)
    bounds = np.concatenate(([0], np.cumsum(rle_runs(rle))))
    return _split(bounds[1:-1:2], bounds[2::2], height, width)


def background_of(mask: Segments) -> Segments:
    """The complement of ``mask``: every pixel it does not cover."""
    height, width = mask.height, mask.width
    flat_start = mask.col * height + mask.y0
    flat_end = mask.col * height + mask.y1
    starts = np.concatenate(([0], flat_end))
    ends = np.concatenate((flat_start, [height * width]))
    return _split(starts, ends, height, width)


def merge(parts: list[Segments]) -> Segments:
    """The union of masks of one size, as non-overlapping, non-touching segments."""
    height, width = parts[0].height, parts[0].width
    col = np.concatenate([p.col for p in parts])
    y0 = np.concatenate([p.y0 for p in parts])
    y1 = np.concatenate([p.y1 for p in parts])
    if col.size == 0:
        return Segments(height, width, col, y0, y1)
    stride = height + 2
    start, end = col * stride + y0, col * stride + y1
    order = np.lexsort((end, start))
    start, end = start[order], end[order]
    reach = np.maximum.accumulate(end)
    fresh = np.ones(start.size, dtype=bool)
    fresh[1:] = start[1:] > reach[:-1]
    group_start = start[fresh]
    group_end = np.maximum.reduceat(end, np.flatnonzero(fresh))
    col = group_start // stride
    return Segments(height, width, col, group_start - col * stride, group_end - col * stride)


def _components(mask: Segments, diagonal: bool) -> np.ndarray:
    """A component label per segment: segments in neighbouring columns whose rows overlap
    (or touch at a corner when ``diagonal``: 8-connectivity) share a label."""
    n = mask.col.size
    labels = np.arange(n)
    if n < 2:
        return labels
    start, end = mask._keys()
    stride = mask.height + 2
    slack = 1 if diagonal else 0
    base = (mask.col + 1) * stride
    low = np.searchsorted(end, base + mask.y0 - slack, side="right")
    high = np.searchsorted(start, base + mask.y1 + slack, side="left")
    count = np.maximum(high - low, 0)
    a = np.repeat(np.arange(n), count)
    b = np.repeat(low, count) + (np.arange(a.size) - np.repeat(np.cumsum(count) - count, count))
    if a.size == 0:
        return labels
    # Label propagation with pointer jumping: each round halves the longest chain or better.
    while True:
        smaller = np.minimum(labels[a], labels[b])
        updated = labels.copy()
        np.minimum.at(updated, a, smaller)
        np.minimum.at(updated, b, smaller)
        updated = updated[updated]
        while True:
            jumped = updated[updated]
            if np.array_equal(jumped, updated):
                break
            updated = jumped
        if np.array_equal(updated, labels):
            return labels
        labels = updated


def remove_islands(mask: Segments, max_area: int) -> Segments:
    """``mask`` without its regions (8-connected) of at most ``max_area`` pixels."""
    if max_area <= 0 or mask.col.size == 0:
        return mask
    labels = _components(mask, diagonal=True)
    area = np.bincount(labels, weights=mask.y1 - mask.y0)
    keep = area[labels] > max_area
    return Segments(mask.height, mask.width, mask.col[keep], mask.y0[keep], mask.y1[keep])


def fill_holes(mask: Segments, max_area: int) -> Segments:
    """``mask`` with its holes of at most ``max_area`` pixels filled: background regions
    (4-connected, the dual of 8-connected foreground) that do not touch the frame's edge."""
    if max_area <= 0 or mask.col.size == 0:
        return mask
    back = background_of(mask)
    labels = _components(back, diagonal=False)
    area = np.bincount(labels, weights=back.y1 - back.y0)
    edge = (back.col == 0) | (back.col == mask.width - 1) | (back.y0 == 0)
    edge |= back.y1 == mask.height
    touches = np.zeros(area.size, dtype=bool)
    touches[labels[edge]] = True
    hole = (~touches[labels]) & (area[labels] <= max_area)
    if not hole.any():
        return mask
    filled = Segments(mask.height, mask.width, back.col[hole], back.y0[hole], back.y1[hole])
    return merge([mask, filled])


def rasterise(mask: Segments, row0: int, row1: int) -> np.ndarray:
    """Rows ``row0``..``row1 - 1`` of the mask as a (rows x width) boolean array."""
    rows = row1 - row0
    hit = (mask.y0 < row1) & (mask.y1 > row0)
    base = mask.col[hit] * rows - row0
    starts = base + np.maximum(mask.y0[hit], row0)
    ends = base + np.minimum(mask.y1[hit], row1)
    # The band down its columns is runs of outside and inside: lay them out with one repeat.
    bounds = np.empty(2 * starts.size + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, rows * mask.width
    bounds[1:-1:2], bounds[2:-1:2] = starts, ends
    values = np.zeros(bounds.size - 1, dtype=bool)
    values[1::2] = True
    columns = np.repeat(values, np.diff(bounds)).reshape(mask.width, rows)
    return np.ascontiguousarray(columns.T)
