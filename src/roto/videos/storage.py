"""Where a video's objects live in S3: under the video's prefix, and its export archives under
its export prefix (a prefix of its own, so the bucket's lifecycle rule can expire them);
deleting the video deletes both. The ingest worker, the exports and the GPU daemon import these,
so the API and the workers cannot disagree on the layout (generic S3 calls are in
``roto.storage``)."""

from __future__ import annotations

import uuid


def video_prefix(video_id: uuid.UUID | str) -> str:
    """The prefix under which every object of a video lives."""
    return f"videos/{video_id}/"


def export_prefix(video_id: uuid.UUID | str) -> str:
    """The prefix of the video's export archives: under ``exports/``, which the bucket's
    lifecycle rule expires (S3 rules match key prefixes, not ``videos/*/exports/``)."""
    return f"exports/{video_id}/"


def video_prefixes(video_id: uuid.UUID | str) -> tuple[str, ...]:
    """Every prefix that holds objects of the video."""
    return (video_prefix(video_id), export_prefix(video_id))


def source_key(video_id: uuid.UUID | str) -> str:
    """Where the client uploads the source file (the presigned URLs point here)."""
    return f"{video_prefix(video_id)}source"


def ingested_source_key(video_id: uuid.UUID | str) -> str:
    """The copy of a single-PUT upload made at upload-complete: no URL was ever signed for it,
    so ingest and every export read exactly what was checked."""
    return f"{video_prefix(video_id)}original"


def frame_key(video_id: uuid.UUID | str, index: int) -> str:
    """The JPEG of frame ``index`` (0-based, decode order)."""
    return f"{video_prefix(video_id)}frames/{index:06d}.jpg"


def proxy_frame_key(video_id: uuid.UUID | str, index: int) -> str:
    """The proxy JPEG of frame ``index`` (long side at most 960 px), for scrubbing and playback;
    written only for videos larger than that."""
    return f"{video_prefix(video_id)}proxy/{index:06d}.jpg"


def frame_pts_key(video_id: uuid.UUID | str) -> str:
    """Each frame's presentation timestamp in the source's video stream, in frame order
    (little-endian int64): lets an export seek to a late frame instead of decoding up to it."""
    return f"{video_prefix(video_id)}frame_pts.i64"
