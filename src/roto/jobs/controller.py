"""HTTP handlers of jobs: list, get, cancel and the live event stream."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Router, get, post
from litestar.params import FromPath, Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from roto.deps import ResourcesDep, UserDep
from roto.ids import parse_id
from roto.jobs import service
from roto.jobs.schemas import Job, JobStatus
from roto.jobs.watch import JobWatch, Ping
from roto.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from roto.problems import problem_responses
from roto.resources import Resources

TAGS = ["jobs"]
VideoFilter = Annotated[
    str | None,
    Parameter(
        description="only jobs of this video; an id that is not a UUID matches no job "
        "(ids are opaque), so it answers an empty list"
    ),
]
StatusFilter = Annotated[JobStatus | None, Parameter(description="only jobs in this status")]
NOT_FOUND = "no such job for this caller (also for another user's job or a non-UUID id)"


def _message(event: str, data: Any) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=msgspec.json.encode(data).decode(), event=event)


async def stream_job_events(
    resources: Resources, job_id: uuid.UUID
) -> AsyncIterator[ServerSentEventMessage]:
    """``status`` first, then every event until a terminal ``status``; ``: ping`` when idle."""
    settings = resources.settings
    interval = settings.sse_resync_interval_s
    async with JobWatch(resources, resync_s=interval, poll_s=interval) as watch:
        await watch.subscribe(job_id)
        job = await watch.read(job_id)
        if job is None:
            return
        yield _message("status", job.to_wire())
        async for event in watch.follow(job, ping_s=settings.sse_ping_interval_s):
            if isinstance(event, Ping):
                yield ServerSentEventMessage(data=None, comment="ping")
            else:
                yield _message(event.event, event.data)


def _optional_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return None if value is None else uuid.UUID(value)
    except ValueError:
        return None


@get("/", tags=TAGS, summary="The caller's jobs, newest first")
async def list_jobs(
    resources: ResourcesDep,
    user: UserDep,
    video_id: VideoFilter = None,
    status: StatusFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[Job]:
    video_uuid = _optional_uuid(video_id)
    if video_id is not None and video_uuid is None:
        return Page([], None)
    return await service.list_jobs(
        resources, user.id, video_id=video_uuid, status=status, limit=limit, cursor=cursor
    )


@get(
    "/{job_id:str}",
    tags=TAGS,
    summary="One job",
    responses=problem_responses({404: NOT_FOUND}),
)
async def get_job(job_id: FromPath[str], resources: ResourcesDep, user: UserDep) -> Job:
    job = await service.get_job(resources, user.id, parse_id(job_id, "job"))
    return await service.to_wire(resources, job)


@post(
    "/{job_id:str}/cancel",
    status_code=202,
    tags=TAGS,
    summary="Cancel a queued or running job",
    description="Canceling an ingest job marks its video failed (code `canceled`).",
    responses=problem_responses({404: NOT_FOUND, 409: "the job has already finished"}),
)
async def cancel_job(job_id: FromPath[str], resources: ResourcesDep, user: UserDep) -> Job:
    job = await service.cancel_job(resources, user.id, parse_id(job_id, "job"))
    return job.to_wire()


@get(
    "/{job_id:str}/events",
    media_type="text/event-stream",
    tags=TAGS,
    summary="Live job events (text/event-stream)",
    description="`status` events carry the Job, `progress` events {done, total}, `masks` events "
    "{frame_index, masks}; the first event is the current status and the stream ends after the "
    "terminal status. Comment lines (`: ping`) keep idle connections open.",
    responses=problem_responses({404: NOT_FOUND}),
)
async def job_events(
    job_id: FromPath[str], resources: ResourcesDep, user: UserDep
) -> ServerSentEvent:
    job = await service.get_job(resources, user.id, parse_id(job_id, "job"))
    return ServerSentEvent(stream_job_events(resources, job.id))


router = Router("/v1/jobs", route_handlers=[list_jobs, get_job, cancel_job, job_events])
