"""The archive: a zip written as a stream (entries carry data descriptors, so nothing seeks back)
into an S3 multipart upload whose parts are sent as they fill. At most two parts are in memory:
the one being filled and the one being uploaded."""

from __future__ import annotations

import concurrent.futures
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

from roto import storage
from roto.exports.bridge import LoopBridge

#: S3's smallest part (except the last one) is 5 MiB, and an upload has at most 10,000 parts.
MIN_PART_BYTES = 5 * 1024**2
DEFAULT_PART_BYTES = 8 * 1024**2
#: Parts double in size every this many, so 10,000 parts hold any archive (8 MiB parts alone
#: would stop at 78 GiB, a few minutes of 4K ProRes) while small archives keep small parts.
PARTS_PER_SIZE = 1000
COPY_CHUNK_BYTES = 1024**2


class MultipartSink:
    """A write-only byte stream that uploads each filled part of a multipart upload.

    Used from the export thread; the S3 calls run on the loop through ``bridge``.
    """

    def __init__(
        self,
        bridge: LoopBridge,
        s3: Any,
        bucket: str,
        key: str,
        upload_id: str,
        part_bytes: int = DEFAULT_PART_BYTES,
    ) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"parts must be at least {MIN_PART_BYTES} bytes")
        self._bridge = bridge
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._upload_id = upload_id
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._pending: concurrent.futures.Future[str] | None = None
        self.parts: list[tuple[int, str]] = []
        self.size = 0
        self.most_buffered = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buffer += data
        self.size += len(data)
        self.most_buffered = max(self.most_buffered, len(self._buffer))
        while len(self._buffer) >= self.part_size:
            size = self.part_size
            with memoryview(self._buffer) as view:
                part = bytes(view[:size])  # one copy: slicing the bytearray would make two
            del self._buffer[:size]
            self._send(part)
        return len(data)

    @property
    def part_size(self) -> int:
        """The size of the part being filled."""
        started = len(self.parts) + (self._pending is not None)
        return self._part_bytes * 2 ** (started // PARTS_PER_SIZE)

    def flush(self) -> None:
        """Parts go out when full; there is nothing to flush before that."""

    def finish(self) -> list[tuple[int, str]]:
        """Send the last part and wait for every upload; returns (part_number, etag) in order."""
        if self._buffer or (not self.parts and self._pending is None):
            self._send(bytes(self._buffer))
            self._buffer.clear()
        self._wait_pending()
        return list(self.parts)

    def _send(self, part: bytes) -> None:
        # One upload in flight while the next part fills: encoding and uploading overlap.
        self._wait_pending()
        number = len(self.parts) + 1
        self._pending = self._bridge.submit(self._upload(number, part))

    def _wait_pending(self) -> None:
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        etag = pending.result()
        self.parts.append((len(self.parts) + 1, etag))

    async def _upload(self, number: int, part: bytes) -> str:
        answer = await self._s3.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=part,
        )
        etag: str = answer["ETag"]
        return etag


class ZipStream:
    """Entries written one after another into a zip on a non-seekable ``sink``."""

    def __init__(self, sink: MultipartSink, when: datetime) -> None:
        # zipfile finds no tell()/seek() on the sink, so it writes streaming entries.
        self._zip = zipfile.ZipFile(sink, mode="w", allowZip64=True)  # type: ignore[call-overload]
        self._date_time = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, 0)

    def _info(self, name: str, compressed: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    def add(self, name: str, data: bytes, *, compressed: bool = False) -> None:
        """One whole entry; images are stored as they are (PNG and EXR are compressed already)."""
        self._zip.writestr(self._info(name, compressed), data)

    @contextmanager
    def open(self, name: str, *, compressed: bool = False) -> Iterator[IO[bytes]]:
        """An entry written piece by piece, of any size (zip64)."""
        with self._zip.open(self._info(name, compressed), mode="w", force_zip64=True) as entry:
            yield entry

    def add_file(self, name: str, path: str, *, compressed: bool = False) -> None:
        """An entry copied from a local file, a chunk at a time."""
        with open(path, "rb") as source, self.open(name, compressed=compressed) as entry:
            shutil.copyfileobj(source, entry, COPY_CHUNK_BYTES)

    def close(self) -> None:
        """Write the central directory."""
        self._zip.close()


async def start_upload(s3: Any, bucket: str, key: str) -> str:
    return await storage.start_multipart(s3, bucket, key, "application/zip")


async def presign_download(s3: Any, bucket: str, key: str, filename: str, ttl_s: int) -> str:
    """A GET URL that makes browsers save the archive under ``filename``."""
    url: str = await s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
            "ResponseContentType": "application/zip",
        },
        ExpiresIn=ttl_s,
    )
    return url
