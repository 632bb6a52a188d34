"""Probe a source file with PyAV and check it against the ingest limits. Every refusal is a
``JobFailed`` whose message names the limit and the actual value."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from roto.media.decoding import open_video as open_allowed
from roto.media.decoding import read_timecode
from roto.settings import Settings
from roto.worker.contract import JobFailed

# Fewer decoded frames than this share of the container's count means the file was cut short.
TRUNCATION_RATIO = 0.9


@dataclass(frozen=True)
class ProbeInfo:
    """What the container says about its first video stream, before decoding."""

    width: int
    height: int
    fps: float
    codec: str
    duration_s: float | None
    # Exact for most mp4 files; estimated from duration x fps for mkv and MPEG-TS; 0 if unknown.
    frame_estimate: int
    #: The exact frame rate (e.g. 24000/1001).
    rate: Fraction = Fraction(0)
    #: The start timecode the file carries, ``HH:MM:SS:FF``; None when it carries none.
    timecode: str | None = None
    #: Seconds per pts unit of the stream; None when unknown.
    time_base: Fraction | None = None


def probe_file(path: Path, max_pixels: int = 2**31 - 1) -> ProbeInfo:
    """Open ``path`` and describe its first video stream (blocking: call in a thread). Only
    the allowed container formats open; the header's picture size is not trusted (decoding
    checks every frame)."""
    try:
        container = open_allowed(str(path), max_pixels=max_pixels)
    except av.error.FFmpegError as exc:
        raise JobFailed(
            "not_a_video", f"the file is not a readable video in an accepted format: {exc}"
        ) from exc
    with container:
        if not container.streams.video:
            kinds = ", ".join(sorted({str(s.type) for s in container.streams})) or "none"
            raise JobFailed(
                "no_video_stream", f"the file has no video stream (streams found: {kinds})"
            )
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate or rate <= 0:
            raise JobFailed("not_a_video", "the video stream has no frame rate")
        if not stream.width or not stream.height:
            raise JobFailed("not_a_video", "the video stream has no picture size")
        fps = float(rate)
        duration_s: float | None = None
        if stream.duration and stream.time_base:
            duration_s = float(stream.duration * stream.time_base)
        elif container.duration:
            duration_s = container.duration / av.time_base
        estimate = stream.frames or (round(duration_s * fps) if duration_s else 0)
        return ProbeInfo(
            width=stream.width,
            height=stream.height,
            fps=fps,
            codec=stream.codec_context.name,
            duration_s=duration_s,
            frame_estimate=estimate,
            rate=Fraction(rate),
            timecode=read_timecode(container, stream),
            time_base=Fraction(stream.time_base) if stream.time_base else None,
        )


def check_limits(info: ProbeInfo, size_bytes: int, settings: Settings) -> None:
    """Refuse a file whose header is over the size, resolution, frame rate, frame count or
    duration limits. Decoding checks every frame again: headers can lie."""
    check_size(size_bytes, settings.max_upload_bytes)
    if info.width > settings.max_width or info.height > settings.max_height:
        raise JobFailed(
            "resolution_too_large",
            f"resolution {info.width}x{info.height} is over the limit of "
            f"{settings.max_width}x{settings.max_height}",
        )
    check_frame_rate(info.fps, settings.max_frame_rate)
    if info.frame_estimate:
        check_frame_count(info.frame_estimate, settings.max_frame_count)
    duration_s = info.duration_s
    if duration_s is None and info.frame_estimate:
        duration_s = info.frame_estimate / info.fps
    if duration_s is not None:
        check_duration(duration_s, settings.max_duration_s)


def check_frame_rate(fps: float, limit: float) -> None:
    if fps > limit:
        raise JobFailed(
            "frame_rate_too_high", f"frame rate {fps:.3f} fps is over the limit of {limit:g} fps"
        )


def check_frame_count(frames: int, limit: int) -> None:
    if frames > limit:
        raise JobFailed(
            "too_many_frames", f"{frames} frames are over the limit of {limit} frames a video"
        )


def check_size(size_bytes: int, limit_bytes: int) -> None:
    if size_bytes > limit_bytes:
        raise JobFailed(
            "too_large", f"file size {size_bytes} bytes is over the limit of {limit_bytes} bytes"
        )


def check_duration(duration_s: float, limit_s: float) -> None:
    if duration_s > limit_s:
        raise JobFailed(
            "too_long", f"duration {duration_s:.2f} s is over the limit of {limit_s:g} s"
        )


def check_complete(decoded: int, info: ProbeInfo) -> None:
    """Refuse a file that decoded to far fewer frames than its container announced."""
    if decoded == 0:
        raise JobFailed("truncated", "no frame could be decoded")
    if info.frame_estimate and decoded < info.frame_estimate * TRUNCATION_RATIO:
        raise JobFailed(
            "truncated",
            f"only {decoded} of the {info.frame_estimate} frames the container announces "
            "could be decoded; the file looks cut short",
        )
