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
