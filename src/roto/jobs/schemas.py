"""Wire shapes of jobs."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

JobType = Literal["ingest", "segment", "propagate", "detect", "export"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})


class Progress(msgspec.Struct):
    done: int
    total: int


class ErrorInfo(msgspec.Struct):
    code: str
    message: str


class Job(msgspec.Struct):
    """A job as the API shows it."""

    id: str
    type: JobType
    status: JobStatus
    video_id: str | None
    progress: Progress
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: ErrorInfo | None
    result: dict[str, Any] | None


class JobEnvelope(msgspec.Struct):
    job: Job
