"""Movies encoded with PyAV at the source's exact frame rate: a ProRes 4444 .mov with alpha per
object (the colour at 10 bits from a 16-bit decode, the matte as alpha, and a timecode track
where the source has a timecode), and an H.264 preview with the objects' colours blended in.

MOV and MP4 write their index (moov) after the media, so each movie is encoded into a temporary
file and then copied into the archive in chunks; that file is the only thing on disk.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import numpy as np

from roto.exports.formats.base import FormatWriter, Frame
from roto.exports.formats.sequences import to_depth
from roto.exports.plan import ExportPlan, hex_rgb
from roto.exports.timecode import shifted

#: How much of an object's colour the preview mixes into its pixels.
OVERLAY_OPACITY = 0.5
BT709 = 1  # AVCOL_SPC/PRI/TRC_BT709


class MovieFile:
    """One video stream being encoded into a local file."""

    def __init__(
        self,
        path: Path,
        codec: str,
        rate: Fraction,
        size: tuple[int, int],
        pix_fmt: str,
        options: dict[str, str],
        timecode: str | None = None,
    ) -> None:
        self.path = path
        # Typed loosely: PyAV's stubs type add_stream as any kind of stream.
        self._container: Any = cast(Any, av.open(str(path), mode="w"))
        self._stream: Any = cast(Any, self._container.add_stream(codec, rate=rate))
        self._stream.width, self._stream.height = size
        self._stream.pix_fmt = pix_fmt
        if timecode:
            # The mov muxer writes a timecode (tmcd) track starting at this value.
            self._stream.metadata["timecode"] = timecode
        self._stream.time_base = 1 / rate
        self._stream.options = options
        context = self._stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = BT709
        self._pix_fmt = pix_fmt
        self._count = 0
        self._closed = False

    def encode(self, pixels: np.ndarray, layout: str) -> None:
        """Encode one frame of ``layout`` (``rgb24``, ``rgba`` or ``rgba64le``) pixels."""
        frame = av.VideoFrame.from_ndarray(pixels, format=layout)
        frame = frame.reformat(format=self._pix_fmt, dst_colorspace="ITU709")
        frame.pts = self._count
        self._count += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def finish(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()


def _rate(plan: ExportPlan) -> Fraction:
    if plan.rate is None:
        raise ValueError("a movie needs the source's frame rate")
    return plan.rate


def start_timecode(plan: ExportPlan) -> str | None:
    """The timecode of the first exported frame, from the source's; None when it has none."""
    if plan.timecode is None or plan.rate is None:
        return None
    return str(shifted(plan.timecode, plan.rate, plan.frame_start))


class ProresMovies(FormatWriter):
    """``<video>_<object>.mov``: ProRes 4444 (yuva444p10le) with the object's matte as alpha,
    encoded from 16-bit RGBA (a 10-bit source keeps its 10 bits) and a timecode track."""

    needs_source = True
    keeps_deep_source = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        timecode = start_timecode(self.plan)
        self._movies = {
            obj.object_id: MovieFile(
                self.workdir / f"{obj.object_id}.mov",
                "prores_ks",
                _rate(self.plan),
                (self.plan.width, self.plan.height),
                "yuva444p10le",
                {"profile": "4444", "vendor": "apl0", "alpha_bits": "16"},
                timecode,
            )
            for obj in self.plan.objects
        }

    def add(self, frame: Frame) -> None:
        rgb = to_depth(self.source_pixels(frame), np.uint16)
        rgba = np.empty((*rgb.shape[:2], 4), dtype=np.uint16)
        rgba[..., :3] = rgb
        for obj in self.plan.objects:
            rgba[..., 3] = self.matte_pixels(frame, obj.object_id, np.uint16)
            self._movies[obj.object_id].encode(rgba, "rgba64le")

    def finish(self) -> None:
        for obj in self.plan.objects:
            movie = self._movies[obj.object_id]
            movie.finish()
            self.archive.add_file(f"{self.plan.video}_{obj.label}.mov", str(movie.path))
            movie.path.unlink()

    def close(self) -> None:
        for movie in self._movies.values():
            movie.close()


def even(value: int) -> int:
    return value + value % 2


class OverlayMovie(FormatWriter):
    """``<video>_overlay.mp4``: H.264 (yuv420p, for any player) of the source with each object's
    colour blended in at ``OVERLAY_OPACITY``; an odd size gets one edge row or column repeated."""

    needs_source = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._size = (even(self.plan.width), even(self.plan.height))
        self._movie = MovieFile(
            self.workdir / "overlay.mp4",
            "libx264",
            _rate(self.plan),
            self._size,
            "yuv420p",
            {"preset": "veryfast", "crf": "20"},
        )
        self._colors = {
            obj.object_id: np.array(hex_rgb(obj.color), dtype=np.float32)
            for obj in self.plan.objects
        }

    def add(self, frame: Frame) -> None:
        pixels = to_depth(self.source_pixels(frame), np.uint8).copy()
        for obj in self.plan.objects:
            inside = frame.masks.mask(obj.object_id)
            # Only the covered pixels go through float: a 4K frame in float32 is 100 MB.
            covered = pixels[inside].astype(np.float32)
            covered += OVERLAY_OPACITY * (self._colors[obj.object_id] - covered)
            pixels[inside] = np.rint(covered).astype(np.uint8)
        width, height = self._size
        if (width, height) != (self.plan.width, self.plan.height):
            pad = ((0, height - self.plan.height), (0, width - self.plan.width), (0, 0))
            pixels = np.pad(pixels, pad, mode="edge")
        self._movie.encode(pixels, "rgb24")

    def finish(self) -> None:
        self._movie.finish()
        self.archive.add_file(f"{self.plan.video}_overlay.mp4", str(self._movie.path))
        self._movie.path.unlink()

    def close(self) -> None:
        self._movie.close()
