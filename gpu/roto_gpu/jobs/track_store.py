"""What the GPU daemon keeps in S3 besides the masks, so that a correction is decoded the same way
after a restart or on another daemon: each prompt's keyframe state, a keyframe's decoding context
(the memory-conditioned features of a tracked frame), and beside each chunk of propagated masks
the track records of its frames (raw logits, object pointer, score logit, direction) with the
keyframe states their run was seeded from. Everything lives under the object's mask prefix, so
deleting the object or the video deletes it; a propagate job also deletes its objects' states of
deleted prompts and contexts of ended keyframes (``roto_gpu.jobs.keyframe_sweep``).
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from roto.masks.storage import object_masks_prefix
from roto.storage import object_bytes, object_tail
from roto_gpu.model.prompts import KeyframeState
from roto_gpu.tracking.requests import TrackRecord

#: The end of a track chunk read for its keyframes map alone: the map is the archive's last member,
#: and with the archive's directory it takes a few hundred bytes per keyframe.
TAIL_BYTES = 32 * 1024
#: A chunk of propagated masks is ``.../<start>.json``; its track records ``.../<start>.track.npz``.
CHUNK_SUFFIX = ".json"
TRACK_SUFFIX = ".track.npz"


def state_key(video_id: uuid.UUID, object_id: int, frame_index: int, prompt_id: uuid.UUID) -> str:
    """The keyframe's state after prompt ``prompt_id``."""
    prefix = keyframes_prefix(video_id, object_id)
    return f"{prefix}{frame_index:06d}/states/{prompt_id}.npz"


def context_key(video_id: uuid.UUID, object_id: int, frame_index: int) -> str:
    """A fresh key for a keyframe's decoding context (one per keyframe it was made for)."""
    prefix = keyframes_prefix(video_id, object_id)
    return f"{prefix}{frame_index:06d}/context-{uuid.uuid4()}.npz"


def keyframes_prefix(video_id: uuid.UUID, object_id: int) -> str:
    """Under which an object's keyframe states and contexts are (with its keyframe masks)."""
    return f"{object_masks_prefix(video_id, object_id)}keyframes/"


def state_prompt_id(key: str) -> uuid.UUID | None:
    """The prompt whose state ``key`` holds; None for a key that is not a state's."""
    folder, _, name = key.rpartition("/")
    if not folder.endswith("/states") or not name.endswith(".npz"):
        return None
    try:
        return uuid.UUID(name.removesuffix(".npz"))
    except ValueError:
        return None


def is_context_key(key: str) -> bool:
    """Whether ``key`` is a keyframe's decoding context (``context_key`` makes them)."""
    name = key.rpartition("/")[2]
    return name.startswith("context-") and name.endswith(".npz")


def track_key(chunk_key: str) -> str:
    """Where the track records of the frames in the mask chunk ``chunk_key`` are."""
    return chunk_key.removesuffix(CHUNK_SUFFIX) + TRACK_SUFFIX


def chunk_of_track_key(key: str) -> str | None:
    """The mask chunk whose records ``key`` holds; None for any other key."""
    return key.removesuffix(TRACK_SUFFIX) + CHUNK_SUFFIX if key.endswith(TRACK_SUFFIX) else None


def encode_context(features: np.ndarray, reverse: bool) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, features=features.astype(np.float32), reverse=np.array(reverse))
    return buffer.getvalue()


def decode_context(data: bytes) -> tuple[np.ndarray, bool]:
    """(features (C, E, E), reverse); ValueError for anything else."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            return stored["features"], bool(stored["reverse"])
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise ValueError(f"not a keyframe context: {exc}") from exc


class TrackChunk(NamedTuple):
    """One object's records of the frames of one mask chunk, and its run's keyframe states."""

    records: dict[int, TrackRecord]  # frame index -> record
    keyframes: dict[int, str]  # keyframe index -> state key the run was seeded from


def encode_track_chunk(records: Mapping[int, TrackRecord], keyframes: Mapping[int, str]) -> bytes:
    """The records as compact arrays: logits in float16 (the memory they are re-encoded into is
    kept in bfloat16 by SAM2, so float16 loses nothing that survives), pointers in float32."""
    frames = sorted(records)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        frames=np.array(frames, dtype=np.int32),
        logits=np.stack([records[f].logits for f in frames]).astype(np.float16),
        obj_ptr=np.stack([records[f].obj_ptr for f in frames]).astype(np.float32),
        score_logits=np.array([records[f].object_score_logits for f in frames], np.float32),
        reverse=np.array([records[f].reverse for f in frames], dtype=bool),
        keyframes=np.array(json.dumps({str(k): v for k, v in keyframes.items()})),
    )
    return buffer.getvalue()


def decode_track_chunk(data: bytes) -> TrackChunk:
    """Parse what ``encode_track_chunk`` wrote; ValueError for anything else."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            frames = stored["frames"].tolist()
            logits = stored["logits"].astype(np.float32)
            pointers = stored["obj_ptr"]
            score_logits = stored["score_logits"].tolist()
            reverse = stored["reverse"].tolist()
            keyframes = {int(k): str(v) for k, v in json.loads(str(stored["keyframes"])).items()}
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise ValueError(f"not a track chunk: {exc}") from exc
    records = {
        frame: TrackRecord(logits[i], pointers[i], float(score_logits[i]), bool(reverse[i]))
        for i, frame in enumerate(frames)
    }
    return TrackChunk(records, keyframes)


class _Tail(io.RawIOBase):
    """The last bytes of a file of ``total`` bytes, read as the file: reading before them raises
    ``_OutsideTail``."""

    def __init__(self, tail: bytes, total: int) -> None:
        self._tail, self._start, self._total, self._at = tail, total - len(tail), total, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self._total}[whence]
        self._at = max(0, base + offset)
        return self._at

    def tell(self) -> int:
        return self._at

    def readinto(self, buffer: Any) -> int:
        if self._at >= self._total:
            return 0
        if self._at < self._start:
            raise _OutsideTail
        data = self._tail[self._at - self._start : self._at - self._start + len(buffer)]
        buffer[: len(data)] = data
        self._at += len(data)
        return len(data)


class _OutsideTail(Exception):
    pass


def keyframes_from_tail(tail: bytes, total: int) -> dict[int, str]:
    """A track chunk's keyframes map from the last bytes of its archive; ValueError when they do
    not hold the whole map (then the whole chunk has to be read)."""
    try:
        with zipfile.ZipFile(_Tail(tail, total)) as archive:
            stored = np.load(io.BytesIO(archive.read("keyframes.npy")), allow_pickle=False)
        return {int(k): str(v) for k, v in json.loads(str(stored)).items()}
    except (_OutsideTail, zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        raise ValueError(
            f"the keyframes map is not in the last {len(tail)} bytes: {exc!r}"
        ) from exc


class TrackStore:
    """Reads of the daemon's stored states, contexts and track chunks, each object read once."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._chunks: dict[str, TrackChunk | None] = {}
        self._states: dict[str, KeyframeState | None] = {}

    async def put(self, key: str, data: bytes) -> None:
        await self._s3.put_object(
            Bucket=self._bucket, Key=key, Body=data, ContentType="application/octet-stream"
        )

    async def state(self, key: str) -> KeyframeState | None:
        """The keyframe state at ``key``; None when it is gone or unreadable."""
        if key not in self._states:
            data = await object_bytes(self._s3, self._bucket, key)
            try:
                self._states[key] = KeyframeState.from_bytes(data) if data is not None else None
            except ValueError:
                self._states[key] = None
        return self._states[key]

    async def context(self, key: str) -> tuple[np.ndarray, bool] | None:
        data = await object_bytes(self._s3, self._bucket, key)
        if data is None:
            return None
        try:
            return decode_context(data)
        except ValueError:
            return None

    async def chunk(self, chunk_key: str) -> TrackChunk | None:
        """The track records stored beside a mask chunk; None for a chunk written without them
        (before they were kept) or one that is gone."""
        if chunk_key not in self._chunks:
            data = await object_bytes(self._s3, self._bucket, track_key(chunk_key))
            try:
                self._chunks[chunk_key] = decode_track_chunk(data) if data is not None else None
            except ValueError:
                self._chunks[chunk_key] = None
        return self._chunks[chunk_key]

    async def chunk_keyframes(self, chunk_key: str) -> dict[int, str] | None:
        """The keyframe states a chunk's run was seeded from (keyframe -> state key), read from
        the end of its track records rather than the whole chunk where that end holds them;
        None for a chunk without track records."""
        read = await object_tail(self._s3, self._bucket, track_key(chunk_key), TAIL_BYTES)
        if read is None:
            return None
        tail, total = read
        try:
            return keyframes_from_tail(tail, total)
        except ValueError:
            chunk = await self.chunk(chunk_key)
            return None if chunk is None else chunk.keyframes

    async def record(
        self, chunk_key: str, frame_index: int
    ) -> tuple[TrackRecord, TrackChunk] | None:
        chunk = await self.chunk(chunk_key)
        if chunk is None or frame_index not in chunk.records:
            return None
        return chunk.records[frame_index], chunk
