"""Test videos generated with PyAV: a bright disc moving over a gradient, so frames differ
and later tests have an object to click on."""

from __future__ import annotations

import io
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def frame_image(index: int, width: int, height: int) -> np.ndarray:
    """RGB frame ``index``: a horizontal gradient with a disc moving left to right."""
    x = np.linspace(0, 160, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 60, height, dtype=np.float32)[:, None, None]
    image = np.broadcast_to(x + y, (height, width, 3)).copy()
    image[..., 2] = 90
    cx = int(width * (0.2 + 0.6 * (index % 50) / 50))
    cy = height // 2
    radius = max(4, min(width, height) // 6)
    yy, xx = np.ogrid[:height, :width]
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
    image[disc] = (240, 230, 40)
    return image.astype(np.uint8)


def make_video(
    path: Path,
    *,
    frames: int = 12,
    width: int = 160,
    height: int = 96,
    fps: int | Fraction = 24,
    codec: str = "libx264",
    keyframe_every: int | None = None,
    bframes: int = 0,
    rotation: int = 0,
    timecode: str | None = None,
    pix_fmt: str = "yuv420p",
    image: Callable[[int, int, int], np.ndarray] | None = None,
) -> Path:
    """Encode ``frames`` frames to ``path`` (the container follows the suffix). H.264 puts a
    keyframe every ``keyframe_every`` frames (x264's default otherwise: one at the start of a
    short clip) and up to ``bframes`` B-frames between references, so frames are stored out of
    presentation order. ``rotation`` (degrees counter-clockwise, as a phone writes it) goes in
    the display matrix, ``timecode`` in the stream's metadata (a tmcd track in .mov)."""
    draw = image or frame_image
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = pix_fmt
        if rotation:
            stream.set_display_rotation(rotation)
        if timecode:
            stream.metadata["timecode"] = timecode
        if codec == "libx264":
            params = f"bframes={bframes}"
            if keyframe_every:
                params += f":keyint={keyframe_every}:min-keyint={keyframe_every}:scenecut=0"
            stream.options = {"preset": "ultrafast", "crf": "18", "x264-params": params}
        for index in range(frames):
            pixels = draw(index, width, height)
            layout = "rgb48le" if pixels.dtype == np.uint16 else "rgb24"
            frame = av.VideoFrame.from_ndarray(pixels, format=layout)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def mpegts_segment(width: int, height: int, frames: int, fps: int = 24) -> bytes:
    """An H.264 MPEG-TS of flat grey frames; segments concatenated byte for byte play on as one
    stream whose picture size changes where the second begins."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(frames):
            pixels = np.full((height, width, 3), 16 * index % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """A file that is a valid media container with no video stream."""
    rate = 16000
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=rate)
        samples = np.zeros((1, 1024), dtype=np.float32)
        pts = 0
        for _ in range(int(seconds * rate / 1024)):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = pts
            pts += 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
