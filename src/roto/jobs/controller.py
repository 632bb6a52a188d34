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
from roto.ratelimit import Slot
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
    resources: Resources, job_id: uuid.UUID, slot: Slot
) -> AsyncIterator[ServerSentEventMessage]:
    """``status`` first, then every event until a terminal ``status``; ``: ping`` when idle.
    The caller's stream ``slot`` is kept alive while the stream runs and released at its end."""
    settings = resources.settings
    interval = settings.sse_resync_interval_s
    try:
        async with JobWatch(resources, resync_s=interval, poll_s=interval) as watch:
            await watch.subscribe(job_id)
            job = await watch.read(job_id)
            if job is None:
                return
            yield _message("status", job.to_wire())
            async for event in watch.follow(job, ping_s=settings.sse_ping_interval_s):
                slot.touch()
                if isinstance(event, Ping):
                    yield ServerSentEventMessage(data=None, comment="ping")
                else:
                    yield _message(event.event, event.data)
    finally:
        slot.release()


def stream_slot_ttl_s(resources: Resources) -> float:
    """How long a stream's slot outlives its last event: a stream yields at least a ping every
    ``sse_ping_interval_s``; one that never started (the client left first) frees its slot then."""
    return 2 * resources.settings.sse_ping_interval_s + 5


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
    "terminal status. Comment lines (`: ping`) keep idle connections open. A user may hold "
    "`ROTO_MAX_EVENT_STREAMS_PER_USER` streams open at once (per API process); one more "
    "answers 429 with Retry-After.",
    responses=problem_responses(
        {404: NOT_FOUND, 429: "the caller already holds the most event streams allowed"}
    ),
)
async def job_events(
    job_id: FromPath[str], resources: ResourcesDep, user: UserDep
) -> ServerSentEvent:
    job = await service.get_job(resources, user.id, parse_id(job_id, "job"))
    limit = resources.settings.max_event_streams_per_user
    slot = resources.event_streams.take(user.id, limit, stream_slot_ttl_s(resources))
    return ServerSentEvent(stream_job_events(resources, job.id, slot))


router = Router("/v1/jobs", route_handlers=[list_jobs, get_job, cancel_job, job_events])
