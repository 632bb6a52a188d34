"""COCO RLE in its compressed string form, via pycocotools (the reference implementation)."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as coco_mask

from roto.masks.schemas import Rle


def encode(mask: np.ndarray) -> Rle:
    """RLE of a HxW boolean (or 0/1) mask."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return Rle(size=[int(v) for v in encoded["size"]], counts=encoded["counts"].decode("ascii"))


def decode(rle: Rle) -> np.ndarray:
    """The HxW boolean mask of an RLE."""
    raw = {"size": list(rle.size), "counts": rle.counts.encode("ascii")}
    decoded: np.ndarray = coco_mask.decode(raw)
    return decoded.astype(bool)


def area(rle: Rle) -> int:
    """Pixels inside the mask, without decoding it."""
    raw = {"size": list(rle.size), "counts": rle.counts.encode("ascii")}
    return int(coco_mask.area(raw))


#: Characters of pycocotools' compressed counts: 6 bits each, offset by 48 ("0".."o").
_FIRST_CHAR, _LAST_CHAR = 48, 48 + 63


def counts_of(counts: str) -> list[int]:
    """The run lengths in a compressed counts string, read as pycocotools' ``rleFrString`` reads
    them; ValueError for a character outside the format or a run that comes out negative."""
    runs: list[int] = []
    value, shift = 0, 0
    for char in counts:
        code = ord(char)
        if not _FIRST_CHAR <= code <= _LAST_CHAR:
            raise ValueError(f"character {char!r} is not in the compressed RLE alphabet")
        code -= _FIRST_CHAR
        value |= (code & 0x1F) << shift
        shift += 5
        if code & 0x20:
            continue
        if code & 0x10:
            value -= 1 << shift  # the last chunk's sign bit extends to the left
        if len(runs) > 2:
            value += runs[-2]
        if value < 0:
            raise ValueError("a run length is negative")
        runs.append(value)
        value, shift = 0, 0
    if shift:
        raise ValueError("the counts end in the middle of a number")
    return runs


def problem(rle: Rle, height: int, width: int) -> str | None:
    """What makes ``rle`` unusable as a ``height`` x ``width`` mask, or None when nothing does.
    Checked before pycocotools sees it: its decoder trusts the counts to fill the frame."""
    if list(rle.size) != [height, width]:
        return f"size must be [{height}, {width}] (the video's height and width), got {rle.size}"
    try:
        runs = counts_of(rle.counts)
    except ValueError as exc:
        return f"counts is not a compressed COCO RLE: {exc}"
    if sum(runs) != height * width:
        return f"counts cover {sum(runs)} pixels, not {height * width}"
    return None
