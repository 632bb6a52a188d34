"""HTTP handler of propagation."""

from __future__ import annotations

from litestar import Router, post

from roto.deps import JobOriginDep, ResourcesDep
from roto.jobs.schemas import JobEnvelope
from roto.problems import problem_responses
from roto.propagations import service
from roto.propagations.schemas import PropagationCreate

TAGS = ["propagation"]


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


#: Mounted under /v1/videos/{video_id}.
router = Router("/propagations", route_handlers=[create_propagation])
