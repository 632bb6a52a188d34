"""PNG written a band of rows at a time (zlib compresses each band as it comes), so a matte is
never held whole as pixels to be encoded. Grey (a matte) or RGBA, 8 or 16 bits a sample; every
row uses the "Up" filter, which suits mattes (flat runs, smooth ramps)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

import numpy as np

#: zlib level: 1 is several times faster than the default and compresses mattes about as well.
COMPRESS_LEVEL = 1
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # samples a pixel -> PNG colour type (grey, RGB, RGBA)
_UP = 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


class PngEncoder:
    """A PNG of ``width`` x ``height`` pixels of ``channels`` samples of ``dtype``."""

    def __init__(self, width: int, height: int, channels: int, dtype: np.dtype | type) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
            raise ValueError(f"PNG samples are uint8 or uint16, not {self.dtype}")
        self.width, self.height, self.channels = width, height, channels
        depth = 8 * self.dtype.itemsize
        header = struct.pack(">IIBBBBB", width, height, depth, _COLOUR_TYPES[channels], 0, 0, 0)
        self._out = bytearray(_SIGNATURE + _chunk(b"IHDR", header))
        self._zlib = zlib.compressobj(COMPRESS_LEVEL)
        self._data = bytearray()
        self._previous = np.zeros(width * channels * self.dtype.itemsize, dtype=np.uint8)
        self._rows = 0

    def add(self, rows: np.ndarray) -> None:
        """The next rows: (n, width) for grey, (n, width, channels) otherwise."""
        if rows.shape[:2][1:] != (self.width,) or rows.dtype != self.dtype:
            raise ValueError(f"rows of {self.width} {self.dtype} pixels expected, got {rows.shape}")
        raw = np.ascontiguousarray(rows, dtype=self.dtype.newbyteorder(">"))
        data = raw.view(np.uint8).reshape(rows.shape[0], -1)
        filtered = np.empty((data.shape[0], data.shape[1] + 1), dtype=np.uint8)
        filtered[:, 0] = _UP
        filtered[0, 1:] = data[0] - self._previous
        filtered[1:, 1:] = data[1:] - data[:-1]
        self._previous = data[-1].copy()
        self._data += self._zlib.compress(filtered.data)
        self._rows += rows.shape[0]

    def finish(self) -> bytes:
        if self._rows != self.height:
            raise ValueError(f"{self._rows} rows written of {self.height}")
        self._data += self._zlib.flush()
        self._out += _chunk(b"IDAT", bytes(self._data)) + _chunk(b"IEND", b"")
        return bytes(self._out)


def png_of(pixels: np.ndarray) -> bytes:
    """A whole HxW (grey) or HxWxC (RGB, RGBA) uint8 or uint16 image as a PNG."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    encoder = PngEncoder(pixels.shape[1], pixels.shape[0], channels, pixels.dtype)
    encoder.add(pixels)
    return encoder.finish()


def png_of_bands(
    width: int, height: int, dtype: np.dtype | type, bands: Iterable[np.ndarray]
) -> bytes:
    """A grey PNG from its bands of rows, top to bottom."""
    encoder = PngEncoder(width, height, 1, dtype)
    for rows in bands:
        encoder.add(rows)
    return encoder.finish()
