"""Mattes: masks rendered as 8-bit single-channel PNGs (255 inside, 0 outside)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from roto.masks import rle
from roto.masks.schemas import Rle


def union(rles: list[Rle], height: int, width: int) -> np.ndarray:
    """The HxW boolean union of masks of that size."""
    inside = np.zeros((height, width), dtype=bool)
    for mask in rles:
        inside |= rle.decode(mask)
    return inside


def matte_png(rles: list[Rle], height: int, width: int) -> bytes:
    """The union of ``rles`` as a PNG matte of ``width`` x ``height``."""
    # A 2-D uint8 array becomes a mode "L" (8-bit grey) image.
    pixels = union(rles, height, width).astype(np.uint8) * 255
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()
