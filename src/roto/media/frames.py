"""Frame extraction: decode every frame at source resolution, encode it as JPEG and upload it,
with a bounded number of frames between the decoder and S3 so memory stays flat."""

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

from roto.videos.storage import frame_key
from roto.worker.contract import JobFailed

# Decoded RGB frames waiting for encoding or upload may use about this much memory...
PIPELINE_BUDGET_BYTES = 256 * 1024**2
# ...within these bounds: a few in flight keep S3 busy, more than this gains nothing.
MIN_IN_FLIGHT = 2
MAX_IN_FLIGHT = 16

ProgressCallback = Callable[[int], Awaitable[None]]


def frames_in_flight(width: int, height: int) -> int:
    """How many frames may be decoded but not yet uploaded, for frames of this size."""
    by_memory = PIPELINE_BUDGET_BYTES // max(1, width * height * 3)
    return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, by_memory))


def decode_frames(path: Path) -> Generator[tuple[Image.Image, int | None], None, None]:
    """Every frame of the first video stream as RGB with its timestamp (pts), in decode order
    (blocking)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = 0
        try:
            for frame in container.decode(stream):
                yield frame.to_image(), frame.pts
                index += 1
        except av.error.FFmpegError as exc:
            if index == 0:
                raise JobFailed("not_a_video", f"no frame could be decoded: {exc}") from exc
            raise JobFailed("truncated", f"decoding failed after frame {index}: {exc}") from exc


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class FrameExtractor:
    """Uploads each decoded frame to ``videos/{id}/frames/{index:06d}.jpg``."""

    def __init__(
        self, s3: Any, bucket: str, video_id: uuid.UUID, *, quality: int, in_flight: int
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._video_id = video_id
        self._quality = quality
        self._slots = asyncio.Semaphore(in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self.uploaded = 0
        #: Each frame's pts in frame order; None if any frame had none (seeking is then unsafe).
        self.pts: list[int] | None = []

    async def run(self, path: Path, on_progress: ProgressCallback) -> int:
        """Extract every frame; returns how many. ``on_progress`` gets the uploaded count."""
        frames = decode_frames(path)
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
                self._note_pts(pts)
                self._start_upload(index, image)
                index += 1
                self._raise_failure()
                await on_progress(self.uploaded)
            if self._tasks:
                await asyncio.wait(set(self._tasks))
            self._raise_failure()
            return index
        finally:
            leftover = list(self._tasks)
            for task in leftover:
                task.cancel()
            await asyncio.gather(*leftover, return_exceptions=True)
            decoder.submit(frames.close)
            decoder.shutdown(wait=False)

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
            await self._s3.put_object(
                Bucket=self._bucket,
                Key=frame_key(self._video_id, index),
                Body=data,
                ContentType="image/jpeg",
            )
            self.uploaded += 1
        finally:
            self._slots.release()

    def _on_upload_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
