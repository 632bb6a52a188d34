"""Image sequences: PNG mattes (8 or 16 bit), RGBA PNGs of the source with straight alpha (8 or
16 bit), and half-float EXR files with one layer per object. The mattes come from the shared
matte code (``roto.mattes``), so a PNG matte is byte for byte the matte endpoint's."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import OpenEXR

from roto.exports.formats.base import FormatWriter, Frame
from roto.exports.timecode import Timecode, shifted
from roto.mattes.png import png_of


def sample_type(bit_depth: int) -> type:
    return np.uint16 if bit_depth == 16 else np.uint8


def to_depth(pixels: np.ndarray, dtype: type) -> np.ndarray:
    """Source pixels (uint8, or uint16 decoded from a deep source) as ``dtype`` samples."""
    if pixels.dtype == dtype:
        return pixels
    if dtype is np.uint16:
        return pixels.astype(np.uint16) * np.uint16(257)
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


class PngMattes(FormatWriter):
    """``<video>_<object>.%04d.png``: one single-channel matte per object per frame."""

    def add(self, frame: Frame) -> None:
        assert frame.mattes is not None
        dtype = sample_type(self.plan.bit_depth)
        for obj in self.plan.objects:
            name = self.plan.sequence_name(obj.label, frame.index, "png")
            self.archive.add(name, frame.mattes.png(obj.object_id, dtype))


class RgbaPngs(FormatWriter):
    """``<video>_<object>.%04d.png``: the source's pixels untouched (straight alpha), alpha the
    object's matte; 8 or 16 bits a sample."""

    needs_source = True
    keeps_deep_source = True

    def add(self, frame: Frame) -> None:
        dtype = sample_type(self.plan.bit_depth)
        rgb = to_depth(self.source_pixels(frame), dtype)
        rgba = np.empty((*rgb.shape[:2], 4), dtype=dtype)
        rgba[..., :3] = rgb
        for obj in self.plan.objects:
            rgba[..., 3] = self.matte_pixels(frame, obj.object_id, dtype)
            name = self.plan.sequence_name(obj.label, frame.index, "png")
            self.archive.add(name, png_of(rgba))


def exr_bytes(channels: dict[str, np.ndarray], attributes: dict[str, Any] | None = None) -> bytes:
    """A scanline EXR of half-float channels with ZIP (lossless) compression."""
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    header.update(attributes or {})
    out = io.BytesIO()
    OpenEXR.File(header, channels).write(out)
    return out.getvalue()


def exr_timecode(timecode: Timecode) -> OpenEXR.TimeCode:
    """The EXR ``timeCode`` attribute of ``timecode``."""
    code = OpenEXR.TimeCode()
    code.hours, code.minutes, code.seconds = timecode.hours, timecode.minutes, timecode.seconds
    code.frame, code.dropFrame = timecode.frames, timecode.drop_frame
    return code


class ExrMattes(FormatWriter):
    """``<video>.%04d.exr``: every object of a frame in one file, a layer per object named
    after it (channel ``<object>.A``, half float, 0..1), with the source's frame rate
    (``framesPerSecond``) and, where it has one, the frame's timecode (``timeCode``)."""

    def add(self, frame: Frame) -> None:
        channels = {
            f"{obj.label}.A": self.matte_pixels(frame, obj.object_id, np.float16)
            for obj in self.plan.objects
        }
        attributes: dict[str, Any] = {}
        rate = self.plan.rate
        if rate is not None:
            attributes["framesPerSecond"] = rate
            if self.plan.timecode:
                code = shifted(self.plan.timecode, rate, frame.index)
                attributes["timeCode"] = exr_timecode(code)
        self.archive.add(self.plan.frame_name(frame.index, "exr"), exr_bytes(channels, attributes))
