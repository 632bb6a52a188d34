"""Image sequences: PNG mattes (8 or 16 bit), RGBA PNGs of the source with straight alpha, and
half-float EXR files with one channel per object."""

from __future__ import annotations

import io

import numpy as np
import OpenEXR
from PIL import Image

from roto.exports.formats.base import FormatWriter, Frame

#: zlib level of PNGs: level 1 is several times faster than the default and mattes (flat areas)
#: compress about as well; all levels are lossless.
PNG_COMPRESS_LEVEL = 1


def png_bytes(pixels: np.ndarray) -> bytes:
    """A PNG of a HxW uint8 (grey), HxW uint16 (16-bit grey) or HxWx4 uint8 (RGBA) array."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return out.getvalue()


def matte(mask: np.ndarray, bit_depth: int) -> np.ndarray:
    """A matte at full white inside the mask: 255 (8 bit) or 65535 (16 bit)."""
    if bit_depth == 16:
        return mask.astype(np.uint16) * np.uint16(65535)
    return mask.astype(np.uint8) * np.uint8(255)


class PngMattes(FormatWriter):
    """``<video>_<object>.%04d.png``: one single-channel matte per object per frame."""

    def add(self, frame: Frame) -> None:
        for obj in self.plan.objects:
            pixels = matte(frame.masks.mask(obj.object_id), self.plan.bit_depth)
            name = self.plan.sequence_name(obj.label, frame.index, "png")
            self.archive.add(name, png_bytes(pixels))


class RgbaPngs(FormatWriter):
    """``<video>_<object>.%04d.png``: the source's pixels untouched, alpha 255 inside the mask."""

    needs_source = True

    def add(self, frame: Frame) -> None:
        rgb = self.source_pixels(frame)
        rgba = np.empty((*rgb.shape[:2], 4), dtype=np.uint8)
        rgba[..., :3] = rgb
        for obj in self.plan.objects:
            rgba[..., 3] = matte(frame.masks.mask(obj.object_id), 8)
            name = self.plan.sequence_name(obj.label, frame.index, "png")
            self.archive.add(name, png_bytes(rgba))


def exr_bytes(channels: dict[str, np.ndarray]) -> bytes:
    """A scanline EXR of half-float channels with ZIP (lossless) compression."""
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    out = io.BytesIO()
    OpenEXR.File(header, channels).write(out)
    return out.getvalue()


class ExrMattes(FormatWriter):
    """``<video>.%04d.exr``: every object of a frame in one file, a half-float channel each
    (1.0 inside, 0.0 outside), named ``<object>``."""

    def add(self, frame: Frame) -> None:
        # C order: decoded RLE masks are Fortran-ordered and the binding reads the raw buffer.
        channels = {
            obj.label: np.ascontiguousarray(frame.masks.mask(obj.object_id), dtype=np.float16)
            for obj in self.plan.objects
        }
        self.archive.add(self.plan.frame_name(frame.index, "exr"), exr_bytes(channels))
