"""A bare Litestar app with the hot endpoints' shapes and none of the work (no auth, database,
Redis or queue), served next to the API to measure what our stack costs per request:

    python -m uvicorn scripts.bare_app:create_app --factory --port 8010
    granian --interface asgi --factory --port 8010 scripts.bare_app:create_app
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

import msgspec
from litestar import Litestar, get, post


class Progress(msgspec.Struct):
    done: int
    total: int


class Job(msgspec.Struct):
    """The size and shape of api.md's Job, so encoding costs the same."""

    id: str
    type: str
    status: str
    video_id: str
    progress: Progress
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: dict[str, str] | None
    result: dict[str, str] | None


class JobEnvelope(msgspec.Struct):
    job: Job


class Prompt(msgspec.Struct, forbid_unknown_fields=True):
    object_id: int
    frame_index: int
    points: list[tuple[float, float]] = msgspec.field(default_factory=list)
    labels: list[Literal[0, 1]] = msgspec.field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    mode: Literal["add", "replace"] = "add"


def _job(job_id: str, video_id: str, job_type: str) -> Job:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return Job(
        id=job_id,
        type=job_type,
        status="succeeded",
        video_id=video_id,
        progress=Progress(1, 1),
        created_at=now,
        started_at=now,
        finished_at=now,
        error=None,
        result=None,
    )


@get("/v1/jobs/{job_id:str}")
async def read_job(job_id: str) -> Job:
    return _job(job_id, str(uuid.UUID(int=0)), "ingest")


@post("/v1/videos/{video_id:str}/prompts", status_code=202)
async def submit_prompt(video_id: str, data: Prompt) -> JobEnvelope:
    return JobEnvelope(_job(str(uuid.uuid4()), video_id, "segment"))


def create_app() -> Litestar:
    return Litestar(route_handlers=[read_job, submit_prompt], openapi_config=None)
