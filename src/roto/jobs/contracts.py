"""One contract per job type: the queue it goes to, its payload and its result, as msgspec
Structs, and the SQS message that carries a job. The API that submits a job and the worker that
runs it both use these definitions, so the two sides cannot drift.

A new job type is one ``JobKind`` here (and its type name in ``JobType``); the API submits it with
``roto.jobs.submit.submit_job`` and a worker role runs it with a ``JobHandler`` for that kind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgspec

from roto.exports.schemas import Dataset, ExportFormat
from roto.masks.schemas import FrameMask
from roto.mattes.schemas import Matte

P = TypeVar("P", bound=msgspec.Struct)
R = TypeVar("R", bound=msgspec.Struct)

Queue = Literal["interactive", "batch", "media"]
Direction = Literal["forward", "backward", "both"]


@dataclass(frozen=True)
class JobKind(Generic[P, R]):
    """A job type: its name (``jobs.type``), its queue, the shapes of its payload and result, and
    how long one attempt may run before the worker fails it (``timed_out``)."""

    name: str
    queue: Queue
    payload: type[P]
    result: type[R]
    max_run_s: float = 3600.0

    def encode_payload(self, payload: P) -> dict[str, Any]:
        encoded: dict[str, Any] = msgspec.to_builtins(payload)
        return encoded

    def decode_payload(self, raw: dict[str, Any]) -> P:
        """The stored payload as its Struct; ``msgspec.ValidationError`` when it does not fit."""
        return msgspec.convert(raw, self.payload)

    def encode_result(self, result: R) -> dict[str, Any]:
        encoded: dict[str, Any] = msgspec.to_builtins(result)
        return encoded

    def decode_result(self, raw: dict[str, Any]) -> R:
        """A stored result as its Struct; ``msgspec.ValidationError`` when it does not fit."""
        return msgspec.convert(raw, self.result)


# --- ingest (media queue): probe, validate and extract the frames of an uploaded video ---


class IngestPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    video_id: uuid.UUID


class IngestResult(msgspec.Struct, frozen=True):
    """What ingest learned about the video; stored on the video when the job succeeds."""

    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    codec: str
    #: The exact frame rate as "num/den" (e.g. "24000/1001"); exports carry it.
    frame_rate: str | None = None
    #: The source's start timecode (HH:MM:SS:FF, ';' before FF for drop frame), if it has one.
    timecode: str | None = None
    #: Whether proxy frames were written (only for frames larger than a proxy).
    proxy_frames: bool = False


# --- segment (interactive queue): one object's mask on one keyframe, from its prompts there ---


class SegmentPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The keyframe to (re)compute; ``prompt_id`` is the prompt that asked for it (None when a
    deleted prompt did)."""

    video_id: uuid.UUID
    object_id: int
    frame_index: int
    prompt_id: uuid.UUID | None = None


class SegmentResult(msgspec.Struct, frozen=True):
    mask: FrameMask


# --- propagate (batch queue): keyframes tracked through a frame range ---


class PropagatePayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything resolved when the job was queued."""

    video_id: uuid.UUID
    object_ids: list[int]
    frame_start: int
    frame_end: int
    direction: Direction


class PropagateResult(msgspec.Struct, frozen=True):
    frames_processed: int
    masks_written: int


# --- detect (interactive queue): a concept found on one frame, each instance a new object ---


class DetectPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A checked detection: ``text`` and/or exemplar ``boxes`` (source pixels) on one frame;
    with ``propagate`` a propagation of the new objects over ``frame_start..frame_end``
    follows."""

    video_id: uuid.UUID
    frame_index: int
    text: str | None
    boxes: list[tuple[float, float, float, float]]
    threshold: float
    max_objects: int
    propagate: bool
    frame_start: int
    frame_end: int


class DetectResult(msgspec.Struct, frozen=True):
    """The new objects, highest detector score first (none when nothing matched)."""

    object_ids: list[int]


# --- export (media queue): stored masks written as mattes, movies or datasets ---


class ExportPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything resolved when the job was queued."""

    video_id: uuid.UUID
    format: ExportFormat
    object_ids: list[int]
    frame_start: int
    frame_end: int
    start_number: int
    #: None: the format's default (16 for an RGBA export of a deep source, else 8).
    bit_depth: int | None
    matte: Matte | None = None
    dataset: Dataset | None = None


class ExportResult(msgspec.Struct, frozen=True):
    download_url: str
    expires_at: str
    filename: str
    size_bytes: int


HOUR_S = 3600.0
# Far above what a job of the largest accepted video needs, far below "forever".
INGEST = JobKind("ingest", "media", IngestPayload, IngestResult, max_run_s=4 * HOUR_S)
SEGMENT = JobKind("segment", "interactive", SegmentPayload, SegmentResult, max_run_s=120.0)
PROPAGATE = JobKind("propagate", "batch", PropagatePayload, PropagateResult, max_run_s=4 * HOUR_S)
# Detection runs the concept detector on one frame, then SAM2 per instance: a click's scale.
DETECT = JobKind("detect", "interactive", DetectPayload, DetectResult, max_run_s=120.0)
EXPORT = JobKind("export", "media", ExportPayload, ExportResult, max_run_s=4 * HOUR_S)

JOB_KINDS: dict[str, JobKind[Any, Any]] = {
    kind.name: kind for kind in (INGEST, SEGMENT, PROPAGATE, DETECT, EXPORT)
}
#: The queue of each job type.
JOB_QUEUES: dict[str, str] = {name: kind.queue for name, kind in JOB_KINDS.items()}


class JobMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of every SQS job message: just enough to load the job row."""

    job_id: str
    type: str
    request_id: str | None = None


def encode_message(message: JobMessage) -> str:
    return msgspec.json.encode(message).decode()


def decode_message(body: str | bytes) -> JobMessage:
    """Parse a message body; raises ``msgspec.ValidationError``/``DecodeError`` on garbage."""
    return msgspec.json.decode(body, type=JobMessage)
