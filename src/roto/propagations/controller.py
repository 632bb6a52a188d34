"""HTTP handlers of propagation and of the spans it leaves fresh or stale."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, get, post
from litestar.params import FromPath, Parameter

from roto.deps import JobOriginDep, ResourcesDep, UserDep
from roto.ids import parse_id
from roto.jobs.schemas import JobEnvelope
from roto.problems import problem_responses
from roto.propagations import service
from roto.propagations.schemas import PropagationCreate, SpanList

TAGS = ["propagation"]
NOT_FOUND = "no such video for this caller (also for another user's video or a non-UUID id)"


@post(
    "/",
    status_code=202,
    tags=TAGS,
    summary="Propagate objects' keyframes through the video",
    description="Queues a `propagate` job on the batch queue. It fills every frame of the range "
    "with a mask per object, starting from each object's keyframes, whose own masks are never "
    "overwritten. `object_ids` null (or left out) takes every object that has keyframes. Left "
    "out, `frame_start`/`frame_end` run forward from the objects' earliest keyframe to the last "
    "frame, backward from the first frame to their latest keyframe, both ways over the whole "
    "video; `both` tracks forward from the first keyframe in the range, then backward. Only "
    "stale spans are computed: after a new prompt, the frames between its neighbouring "
    "keyframes. Follow the job's events for `masks` as frames finish. A repeated "
    "Idempotency-Key answers the first job.",
    responses=problem_responses(
        {
            400: "a malformed body or Idempotency-Key, an unknown field, a field of the wrong "
            "type, a negative frame, or a direction other than forward, backward or both",
            404: "no such video for this caller (also for another user's video)",
            409: "the video is not ready",
            422: "object_ids naming no object, an object twice, an object that is not in the "
            "video or has no keyframes; frame_start or frame_end past the last frame, or "
            "frame_end before frame_start; an Idempotency-Key reused for another request",
        }
    ),
)
async def create_propagation(
    data: PropagationCreate, resources: ResourcesDep, origin: JobOriginDep
) -> JobEnvelope:
    job = await service.create_propagation(resources, origin, data)
    return JobEnvelope(job.to_wire())


@get(
    "/",
    tags=TAGS,
    summary="Which frames a correction has made stale",
    description="For each object (or `object_id`), runs of frames between and around its "
    "keyframes: `fresh` (propagated from the keyframes as they are now), `stale` (propagated "
    "from keyframes that changed since; a propagation recomputes just these) or `missing` "
    "(never propagated). A video that is not ready has none.",
    responses=problem_responses({404: NOT_FOUND + "; or no such object in the video"}),
)
async def list_spans(
    video_id: FromPath[str],
    resources: ResourcesDep,
    user: UserDep,
    object_id: Annotated[int | None, Parameter(description="only this object")] = None,
) -> SpanList:
    return await service.list_spans(resources, user.id, parse_id(video_id, "video"), object_id)


#: Mounted under /v1/videos/{video_id}.
router = Router("/propagations", route_handlers=[create_propagation])
spans_router = Router("/spans", route_handlers=[list_spans])
