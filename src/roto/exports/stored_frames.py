"""The frames ingest stored (upright JPEGs), read in order with a few GETs in flight: the pixels
that guide soft edges (the same the matte endpoint's preview reads) and a dataset's images."""

from __future__ import annotations

import collections
import concurrent.futures
import uuid
from collections.abc import Iterator
from typing import Any

from roto.exports.bridge import LoopBridge
from roto.storage import object_bytes
from roto.videos.storage import frame_key
from roto.worker.contract import JobFailed

#: GETs in flight ahead of the frame being written.
PREFETCH = 8


class StoredFrames:
    """The JPEG of each frame of ``indices``, in that order."""

    def __init__(
        self, bridge: LoopBridge, s3: Any, bucket: str, video_id: uuid.UUID, indices: list[int]
    ) -> None:
        self._bridge = bridge
        self._s3 = s3
        self._bucket = bucket
        self._video_id = video_id
        self._indices = indices

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        pending: collections.deque[tuple[int, concurrent.futures.Future[bytes | None]]]
        pending = collections.deque()
        upcoming = iter(self._indices)
        for index in upcoming:
            pending.append((index, self._fetch(index)))
            if len(pending) >= PREFETCH:
                break
        while pending:
            index, future = pending.popleft()
            following = next(upcoming, None)
            if following is not None:
                pending.append((following, self._fetch(following)))
            data = future.result()
            if data is None:
                raise JobFailed("frame_missing", f"the stored frame {index} is missing")
            yield index, data

    def _fetch(self, index: int) -> concurrent.futures.Future[bytes | None]:
        key = frame_key(self._video_id, index)
        return self._bridge.submit(object_bytes(self._s3, self._bucket, key))
