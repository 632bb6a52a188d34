"""Where masks live: S3 objects under the video's prefix (so deleting a video deletes them)
and a hot copy in Redis. The API and the GPU daemon both import these, so they cannot drift.

A keyframe mask is one JSON object, a ``FrameMask``. A chunk of propagated frames is a JSON list
of ``FrameMask``. The ``masks`` table points each (video, object, frame) at the S3 object holding
it.
"""

from __future__ import annotations

import uuid

import msgspec

from roto.masks.schemas import FrameMask
from roto.videos.storage import video_prefix

#: How long the hot copy of a mask stays in Redis.
HOT_MASK_TTL_S = 3600


def object_masks_prefix(video_id: uuid.UUID | str, object_id: int) -> str:
    """The prefix under which every stored mask of one object lives."""
    return f"{video_prefix(video_id)}masks/{object_id}/"


def keyframe_mask_key(video_id: uuid.UUID | str, object_id: int, frame_index: int) -> str:
    return f"{object_masks_prefix(video_id, object_id)}keyframes/{frame_index:06d}.json"


def object_chunks_prefix(video_id: uuid.UUID | str, object_id: int) -> str:
    """The prefix of one object's chunks of propagated masks."""
    return f"{object_masks_prefix(video_id, object_id)}chunks/"


def chunk_key(
    video_id: uuid.UUID | str, object_id: int, writer_id: uuid.UUID | str, start: int
) -> str:
    """A chunk of propagated masks starting at frame ``start``, written by ``writer_id`` (the
    propagate job and its attempt)."""
    return f"{object_chunks_prefix(video_id, object_id)}{writer_id}/{start:06d}.json"


def chunk_writer_id(key: str) -> str | None:
    """The ``writer_id`` part of a ``chunk_key``; None for any other key."""
    parts = key.split("/")
    return parts[-2] if len(parts) >= 2 and parts[-3:-2] == ["chunks"] else None


def hot_mask_key(video_id: uuid.UUID | str, object_id: int, frame_index: int) -> str:
    return f"roto:mask:{video_id}:{object_id}:{frame_index}"


def encode_mask(mask: FrameMask) -> bytes:
    return msgspec.json.encode(mask)


def decode_mask(raw: bytes) -> FrameMask:
    return msgspec.json.decode(raw, type=FrameMask)


def encode_chunk(masks: list[FrameMask]) -> bytes:
    return msgspec.json.encode(masks)


def decode_chunk(raw: bytes) -> list[FrameMask]:
    return msgspec.json.decode(raw, type=list[FrameMask])
