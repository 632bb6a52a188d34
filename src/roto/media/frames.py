"""Frame extraction: decode every frame at source resolution, turn it upright, encode it as JPEG
(and a proxy JPEG for playback, long side at most ``PROXY_LONG_SIDE``) and upload it, with a
bounded number of frames between the decoder and S3 so memory stays flat. Every decoded frame is
checked against the limits before it is converted (``FrameGuard``)."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Awaitable, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import av
from PIL import Image

from roto.media.decoding import FrameGuard, limit_decoder, open_video, upright
from roto.videos.storage import frame_key, proxy_frame_key
from roto.worker.contract import JobFailed

# Decoded RGB frames waiting for encoding or upload may use about this much memory...
PIPELINE_BUDGET_BYTES = 256 * 1024**2
# ...within these bounds: a few in flight keep S3 busy, more than this gains nothing.
MIN_IN_FLIGHT = 2
MAX_IN_FLIGHT = 16

ProgressCallback = Callable[[int], Awaitable[None]]


#: Proxy frames (for scrubbing and playback) have at most this many pixels on their long side.
PROXY_LONG_SIDE = 960


def frames_in_flight(width: int, height: int) -> int:
    """How many frames may be decoded but not yet uploaded, for frames of this size."""
    by_memory = PIPELINE_BUDGET_BYTES // max(1, width * height * 3)
    return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, by_memory))


def proxy_size(width: int, height: int) -> tuple[int, int] | None:
    """The proxy's size for frames of this size; None when the frame is small enough already."""
    long_side = max(width, height)
    if long_side <= PROXY_LONG_SIDE:
        return None
    scale = PROXY_LONG_SIDE / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode_frames(
    path: Path, guard: FrameGuard | None = None, max_frames: int = 2**31 - 1
) -> Generator[tuple[Image.Image, int | None], None, None]:
    """Every frame of the first video stream, upright, as RGB with its timestamp (pts), in
    decode order (blocking). Each frame is checked by ``guard`` (default: FFmpeg's own limits)
    before it is converted, and the decoder refuses pictures over the limits before allocating
    them."""
    guard = guard or FrameGuard(16384, 16384)
    try:
        container = open_video(str(path), max_pixels=guard.max_pixels)
    except av.error.FFmpegError as exc:
        raise JobFailed("not_a_video", f"the file is not a readable video: {exc}") from exc
    with container:
        stream = container.streams.video[0]
        limit_decoder(stream, guard.max_pixels)
        index = 0
        try:
            for frame in container.decode(stream):
                if index >= max_frames:
                    raise JobFailed(
                        "too_many_frames",
                        f"the video has more than the limit of {max_frames} frames",
                    )
                turns = guard.check(frame, index)
                pixels = upright(frame.to_ndarray(format="rgb24"), turns)
                yield Image.fromarray(pixels), frame.pts
                index += 1
        except av.error.FFmpegError as exc:
            raise guard.failure(exc, index, stream) from exc


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encode_proxy(image: Image.Image, size: tuple[int, int], quality: int) -> bytes:
    return encode_jpeg(image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0), quality)


class FrameExtractor:
    """Uploads each decoded frame to ``videos/{id}/frames/{index:06d}.jpg``, and its proxy to
    ``videos/{id}/proxy/{index:06d}.jpg`` when the frames are larger than a proxy."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        video_id: uuid.UUID,
        *,
        quality: int,
        proxy_quality: int,
        guard: FrameGuard,
        max_frames: int,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._video_id = video_id
        self._quality = quality
        self._proxy_quality = proxy_quality
        self._guard = guard
        self._max_frames = max_frames
        # The header's size may lie: the pipeline starts shallow and deepens once the first
        # decoded frame shows the real size (never the other way: permits cannot be taken back).
        self._slots = asyncio.Semaphore(MIN_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self.uploaded = 0
        #: Each frame's pts in frame order; None if any frame had none (seeking is then unsafe).
        self.pts: list[int] | None = []
        #: The proxies' size; None when the frames are proxy-sized themselves (or none decoded).
        self.proxy_size: tuple[int, int] | None = None

    async def run(self, path: Path, on_progress: ProgressCallback) -> int:
        """Extract every frame; returns how many. ``on_progress`` gets the uploaded count."""
        frames = decode_frames(path, self._guard, self._max_frames)
        # One thread owns the decoder: PyAV containers are not safe across threads, and closing
        # the generator queues behind a decode still running when this coroutine is cancelled.
        decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roto-decode")
        loop = asyncio.get_running_loop()
        index = 0
        try:
            while True:
                await self._slots.acquire()
                try:
                    decoded = await loop.run_in_executor(decoder, next, frames, None)
                except BaseException:
                    self._slots.release()
                    raise
                if decoded is None:
                    self._slots.release()
                    break
                image, pts = decoded
                if index == 0:
                    self._first_frame(image)
                self._note_pts(pts)
                self._start_upload(index, image)
                index += 1
                self._raise_failure()
                await on_progress(self.uploaded)
            if self._tasks:
                await asyncio.wait(set(self._tasks))
            self._raise_failure()
            return index
        except Exception:
            # A put already sent lands even when its task is cancelled, and the cleanup after a
            # failed ingest deletes what it lists: the uploads in flight end first, so none
            # lands after it. Only a cancellation (a stop, a canceled job) cuts them off.
            await asyncio.gather(*self._tasks, return_exceptions=True)
            raise
        finally:
            leftover = list(self._tasks)
            for task in leftover:
                task.cancel()
            await asyncio.gather(*leftover, return_exceptions=True)
            decoder.submit(frames.close)
            decoder.shutdown(wait=False)

    def _first_frame(self, image: Image.Image) -> None:
        for _ in range(frames_in_flight(*image.size) - MIN_IN_FLIGHT):
            self._slots.release()
        self.proxy_size = proxy_size(*image.size)

    def _note_pts(self, pts: int | None) -> None:
        if self.pts is None:
            return
        if pts is None or (self.pts and pts <= self.pts[-1]):
            self.pts = None  # missing or out of order: frame numbers cannot be found by pts
        else:
            self.pts.append(pts)

    def _start_upload(self, index: int, image: Image.Image) -> None:
        task = asyncio.create_task(self._upload(index, image))
        self._tasks.add(task)
        task.add_done_callback(self._on_upload_done)

    async def _upload(self, index: int, image: Image.Image) -> None:
        try:
            data = await asyncio.to_thread(encode_jpeg, image, self._quality)
            await self._put(frame_key(self._video_id, index), data)
            if self.proxy_size is not None:
                proxy = await asyncio.to_thread(
                    encode_proxy, image, self.proxy_size, self._proxy_quality
                )
                await self._put(proxy_frame_key(self._video_id, index), proxy)
            self.uploaded += 1
        finally:
            self._slots.release()

    async def _put(self, key: str, data: bytes) -> None:
        await self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType="image/jpeg")

    def _on_upload_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
