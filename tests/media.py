"""Test videos generated with PyAV: a bright disc moving over a gradient, so frames differ
and later tests have an object to click on."""

from __future__ import annotations

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
) -> Path:
    """Encode ``frames`` frames to ``path`` (the container follows the suffix). H.264 puts a
    keyframe every ``keyframe_every`` frames (x264's default otherwise: one at the start of a
    short clip) and up to ``bframes`` B-frames between references, so frames are stored out of
    presentation order."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            params = f"bframes={bframes}"
            if keyframe_every:
                params += f":keyint={keyframe_every}:min-keyint={keyframe_every}:scenecut=0"
            stream.options = {"preset": "ultrafast", "crf": "18", "x264-params": params}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_image(index, width, height), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


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
