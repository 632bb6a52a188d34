"""The uploaded source, decoded frame by frame straight from S3: PyAV reads a file-like object
whose reads are ranged GETs of a few MiB, so neither the file nor its frames pile up anywhere.
It opens with the same guards as ingest (accepted formats, decoders that refuse pictures over the
limits, every frame checked) and turns frames upright as ingest stored them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import numpy as np
import structlog

from roto.exports.bridge import LoopBridge
from roto.media.decoding import (
    FrameGuard,
    bits_per_sample,
    limit_decoder,
    open_video,
    upright,
    upright_size,
)
from roto.storage import object_size
from roto.worker.contract import JobFailed

log = structlog.get_logger(__name__)

#: Bytes fetched per ranged GET; PyAV asks for small reads, mostly in order.
READ_BLOCK_BYTES = 4 * 1024**2


class S3RangeFile(io.RawIOBase):
    """A read-only, seekable view of one S3 object, keeping one block of it in memory."""

    def __init__(self, bridge: LoopBridge, s3: Any, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self._bridge = bridge
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._size = size
        self._position = 0
        self._block_start = 0
        self._block = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._size - self._position)
        if wanted <= 0:
            return 0
        offset = self._position - self._block_start
        if not 0 <= offset < len(self._block):
            self._fetch(self._position)
            offset = 0
        count = min(wanted, len(self._block) - offset)
        view[:count] = self._block[offset : offset + count]
        self._position += count
        return count

    def _fetch(self, start: int) -> None:
        end = min(self._size, start + READ_BLOCK_BYTES) - 1
        self._block = self._bridge.call(self._get(start, end))
        self._block_start = start

    async def _get(self, start: int, end: int) -> bytes:
        answer = await self._s3.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={start}-{end}"
        )
        async with answer["Body"] as body:
            data: bytes = await body.read()
        return data


async def source_size(s3: Any, bucket: str, key: str) -> int:
    """The size of the uploaded source; a failed job when it is gone."""
    size = await object_size(s3, bucket, key)
    if size is None:
        raise JobFailed("source_missing", "the uploaded source is not in storage")
    return size


class SourceVideo:
    """The source's first video stream: its exact frame rate and its frames as RGB arrays,
    upright: 8 bits a sample (uint8), or 16 (uint16, from ``rgb48``) for a deeper source when
    ``deep`` is asked for."""

    def __init__(
        self,
        file: io.RawIOBase,
        pts: np.ndarray | None = None,
        *,
        size: tuple[int, int] | None = None,
        limits: tuple[int, int] = (8192, 8192),
        deep: bool = False,
    ) -> None:
        """``pts``: each frame's timestamp as ingest decoded it, if ingest stored them;
        ``size``: the (width, height) ingest stored, which every frame must have upright;
        ``limits``: the largest (width, height) a frame may have."""
        self._file = file
        self._pts = pts
        self._size = size
        self._guard = FrameGuard(*limits)
        self._open()
        #: Bits of the source's samples; frames come as uint16 when ``deep`` and this is over 8.
        self.bits = bits_per_sample(self._stream)
        self.deep = deep and self.bits > 8
        rate = self._stream.average_rate or self._stream.guessed_rate
        if not rate or rate <= 0:
            self._container.close()
            raise JobFailed("source_unreadable", "the source's video stream has no frame rate")
        #: Frames per second as the container states it (e.g. 24000/1001), never a rounded float.
        self.rate = Fraction(rate)
        #: Frames decoded so far, including those decoded only to reach the first one asked for.
        self.decoded = 0

    def _open(self) -> None:
        """Open the file from its first byte and pick its first video stream."""
        self._file.seek(0)
        reader = io.BufferedReader(self._file, READ_BLOCK_BYTES // 4)
        try:
            container = open_video(reader, max_pixels=self._guard.max_pixels)
        except av.error.FFmpegError as exc:
            raise JobFailed("source_unreadable", f"the source cannot be opened: {exc}") from exc
        if not container.streams.video:
            container.close()
            raise JobFailed("source_unreadable", "the source has no video stream")
        self._container = container
        self._stream = container.streams.video[0]
        limit_decoder(self._stream, self._guard.max_pixels)
        # A frame is checked against the first one decoded since this open (a seek may start
        # anywhere), and against the size ingest stored.
        self._guard.first = None

    def _pixels(self, frame: Any, index: int) -> np.ndarray:
        """The decoded ``frame`` as upright RGB, once it passed the checks."""
        turns = self._guard.check(frame, index)
        if self._size is not None:
            size = upright_size(frame.width, frame.height, turns)
            if size != self._size:
                raise JobFailed(
                    "source_changed",
                    f"frame {index} of the source is {size[0]}x{size[1]}, but the video was "
                    f"ingested at {self._size[0]}x{self._size[1]}",
                )
        layout = "rgb48le" if self.deep else "rgb24"
        return upright(frame.to_ndarray(format=layout), turns)

    def frames(self, first: int, last: int) -> Iterator[np.ndarray]:
        """RGB frames ``first``..``last`` (0-based, decode order).

        With the ingest's timestamps, decoding starts at the keyframe before ``first``; every
        frame is checked against them, and where the stream and the table disagree it goes on
        from the start of the file instead. Without them, decoding starts at the first frame.
        """
        index = first
        pts = self._pts
        if pts is not None and first > 0 and last < len(pts):
            for pixels in self._frames_after_seek(first, last, pts):
                yield pixels
                index += 1
            if index > last:
                return
            log.warning("export_seek_mismatch", frame=index, fallback="decoding from the start")
            self._container.close()
            self._open()
        yield from self._frames_from_start(index, last)

    def _frames_after_seek(self, first: int, last: int, pts: np.ndarray) -> Iterator[np.ndarray]:
        """Frames from ``first`` for as long as their pts match the table."""
        index = first
        try:
            self._container.seek(int(pts[first]), stream=self._stream)
            for frame in self._container.decode(self._stream):
                self.decoded += 1
                if index == first and frame.pts is not None and frame.pts < pts[first]:
                    continue  # between the keyframe and the first frame asked for
                if frame.pts != pts[index]:
                    return
                yield self._pixels(frame, index)
                index += 1
                if index > last:
                    return
        except av.error.FFmpegError as exc:
            log.warning("export_seek_failed", frame=index, error=str(exc))

    def _frames_from_start(self, first: int, last: int) -> Iterator[np.ndarray]:
        index = 0
        try:
            for frame in self._container.decode(self._stream):
                self.decoded += 1
                if index > last:
                    return
                if index >= first:
                    yield self._pixels(frame, index)
                index += 1
        except av.error.FFmpegError as exc:
            refused = self._guard.failure(exc, index, self._stream)
            if refused.code in {"frame_size_changed", "resolution_too_large"}:
                raise refused from exc
            raise JobFailed(
                "source_unreadable", f"decoding failed at frame {index}: {exc}"
            ) from exc
        if index <= last:
            raise JobFailed(
                "source_short", f"the source decoded {index} frames; frame {last} was asked for"
            )

    def close(self) -> None:
        self._container.close()
