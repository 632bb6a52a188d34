"""Wire shapes of videos and their uploads."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from roto.jobs.schemas import Job

VideoStatus = Literal["awaiting_upload", "ingesting", "ready", "failed"]

PartNumber = Annotated[int, msgspec.Meta(ge=1, le=10_000, description="1-based part number")]


class VideoCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Announce an upload: what the client is about to send."""

    filename: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    content_type: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    size_bytes: Annotated[int, msgspec.Meta(ge=1, description="exact size of the file in bytes")]


class CompletedPart(msgspec.Struct, forbid_unknown_fields=True):
    part_number: PartNumber
    etag: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class UploadComplete(msgspec.Struct, forbid_unknown_fields=True):
    """``{}`` after a single PUT; the part ETags after a multipart upload."""

    parts: list[CompletedPart] | None = None


class PutUpload(msgspec.Struct, tag_field="method", tag="PUT"):
    """Send the whole file with one PUT to ``url``, with ``headers``."""

    url: str
    headers: dict[str, str]
    expires_at: str


class UploadPart(msgspec.Struct):
    part_number: int
    url: str


class MultipartUpload(msgspec.Struct, tag_field="method", tag="MULTIPART"):
    """PUT bytes ``[(n-1)*part_size, n*part_size)`` to part n's URL; keep each ETag header."""

    upload_id: str
    part_size: int
    parts: list[UploadPart]
    expires_at: str


Upload = PutUpload | MultipartUpload


class VideoError(msgspec.Struct):
    code: str
    message: str


class Video(msgspec.Struct):
    """A video as the API shows it; the probed fields are null until ingest is done."""

    id: str
    filename: str
    status: VideoStatus
    size_bytes: int
    width: int | None
    height: int | None
    fps: float | None
    frame_count: int | None
    duration_s: float | None
    codec: str | None
    #: The source's start timecode (frame 0), ``HH:MM:SS:FF`` (``;`` before the frames for drop
    #: frame), as the file carries it; null when it carries none.
    timecode: str | None
    error: VideoError | None
    created_at: str


class VideoCreated(msgspec.Struct):
    video: Video
    upload: Upload


class VideoIngest(msgspec.Struct):
    video: Video
    job: Job
