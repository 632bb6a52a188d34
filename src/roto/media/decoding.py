"""Opening and decoding uploaded videos safely, shared by ingest and the export decoder.

- Only the container formats of ``ALLOWED_FORMATS`` are opened: FFmpeg would otherwise pick any
  demuxer that probes well, including playlists and concatenations (HLS, DASH, ffconcat) that open
  further files or URLs.
- The decoder refuses a picture larger than the limits before it allocates it (``max_pixels``),
  and ``FrameGuard`` checks every decoded frame, not only what the header claims: a stream whose
  frames change size, or exceed the limits, fails with a clear code.
- Frames are turned upright as a player would (the display matrix's rotation), so what is stored
  and exported is what the artist saw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO, Any

import av
import numpy as np

from roto.worker.contract import JobFailed

#: Demuxers that may open an upload (FFmpeg names; "mov" covers mp4, m4v and 3gp). No playlist,
#: concatenation, image sequence or network format is among them.
ALLOWED_FORMATS = ("mov", "matroska", "avi", "mpegts", "mxf", "mpeg")
#: "SMPTE" timecodes as FFmpeg reports them: HH:MM:SS:FF, or with ';' or '.' for drop frame.
_TIMECODE = re.compile(r"^(\d{2}):([0-5]\d):([0-5]\d)([:;.])(\d{2,3})$")


def open_video(source: str | IO[bytes], *, max_pixels: int) -> Any:
    """Open ``source`` (a path or a binary file object) with the allowed demuxers only; every
    stream's decoder refuses pictures of more than ``max_pixels``. Raises ``av.FFmpegError``."""
    options = {"format_whitelist": ",".join(ALLOWED_FORMATS)}
    if isinstance(source, str):
        options["protocol_whitelist"] = "file"
    container = av.open(
        source,
        mode="r",
        container_options=options,
        # Given to every stream's decoder while the streams are probed: reading the parameters
        # can decode frames, and a huge first frame must be refused there too.
        options={"max_pixels": str(max_pixels)},
    )
    if container.format.name.split(",")[0] not in ALLOWED_FORMATS:  # pragma: no cover
        container.close()
        raise av.error.ArgumentError(22, f"container format {container.format.name} not allowed")
    return container


def limit_decoder(stream: Any, max_pixels: int) -> None:
    """Make ``stream``'s decoder refuse any picture over ``max_pixels`` (set before decoding),
    with one decoding context: frame threading gives each thread a context whose tables are
    sized by the stream's picture size before the limit refuses the picture (a 16000x16000
    H.264 tail peaked at 250 MiB with frame threads, ~80 MiB with one context). Slice threads
    share the one context."""
    stream.codec_context.options = {"max_pixels": str(max_pixels)}
    stream.thread_type = "SLICE"


def quarter_turns(rotation: float) -> int:
    """Counter-clockwise quarter turns (0..3) that make a frame with the display matrix's
    ``rotation`` (degrees counter-clockwise, as FFmpeg and PyAV report it) upright."""
    return round(rotation / 90) % 4


def upright(pixels: np.ndarray, turns: int) -> np.ndarray:
    """``pixels`` (H x W or H x W x C) turned by ``turns`` counter-clockwise quarter turns."""
    if turns == 0:
        return pixels
    return np.ascontiguousarray(np.rot90(pixels, turns))


def upright_size(width: int, height: int, turns: int) -> tuple[int, int]:
    return (height, width) if turns % 2 else (width, height)


def bits_per_sample(stream: Any) -> int:
    """Bits of the stream's first colour component (8 for most video, 10 or 12 for deep)."""
    fmt = stream.codec_context.format
    if fmt is None or not fmt.components:
        return 8
    return int(fmt.components[0].bits)


@dataclass
class FrameGuard:
    """Checks each decoded frame of one stream: every frame must have the first frame's stored
    size and rotation, within ``max_width`` x ``max_height`` once upright."""

    max_width: int
    max_height: int
    #: (width, height, turns) of the first frame; None until one was seen.
    first: tuple[int, int, int] | None = None

    @property
    def max_pixels(self) -> int:
        return self.max_width * self.max_height

    def check(self, frame: Any, index: int) -> int:
        """The quarter turns that make ``frame`` upright; ``JobFailed`` when it breaks a limit."""
        turns = quarter_turns(frame.rotation or 0)
        self._check_size(frame.width, frame.height, turns, index)
        return turns

    def _check_size(self, raw_width: int, raw_height: int, turns: int, index: int) -> None:
        width, height = upright_size(raw_width, raw_height, turns)
        if width > self.max_width or height > self.max_height:
            raise JobFailed(
                "resolution_too_large",
                f"frame {index} is {width}x{height}, over the limit of "
                f"{self.max_width}x{self.max_height}",
            )
        shape = (raw_width, raw_height, turns)
        if self.first is None:
            self.first = shape
        elif shape != self.first:
            first_w, first_h = upright_size(*self.first)
            raise JobFailed(
                "frame_size_changed",
                f"frame {index} is {width}x{height} but the video starts at {first_w}x{first_h}; "
                "videos whose frames change size are not supported",
            )

    def failure(self, exc: av.error.FFmpegError, index: int, stream: Any) -> JobFailed:
        """Why a decode error at frame ``index`` stops the job. The decoder refuses a picture
        over ``max_pixels`` with a generic error; its context still says the size it met."""
        context = stream.codec_context
        width, height = context.width or 0, context.height or 0
        if width * height > self.max_pixels:
            return JobFailed(
                "frame_size_changed" if self.first else "resolution_too_large",
                f"frame {index} is {width}x{height}, over the limit of "
                f"{self.max_width}x{self.max_height}; it was not decoded",
            )
        if self.first is not None and width and height:
            turns = self.first[2]
            try:
                self._check_size(width, height, turns, index)
            except JobFailed as refused:
                return refused
        if index == 0:
            return JobFailed("not_a_video", f"no frame could be decoded: {exc}")
        return JobFailed("truncated", f"decoding failed after frame {index}: {exc}")


def read_timecode(container: Any, stream: Any) -> str | None:
    """The start timecode the file carries (the video stream's, the container's, or a timecode
    track's), as ``HH:MM:SS:FF`` (``;`` for drop frame); None when there is none."""
    sources = [stream.metadata, container.metadata]
    sources += [s.metadata for s in container.streams if s.type == "data"]
    for metadata in sources:
        value = (metadata or {}).get("timecode")
        if value and _TIMECODE.match(value.strip()):
            return value.strip().replace(".", ";")
    return None
