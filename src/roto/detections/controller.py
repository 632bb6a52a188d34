"""HTTP handler of detections: text and exemplar prompts that create objects."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Response

from roto.deps import JobOriginDep, ResourcesDep
from roto.detections import service
from roto.detections.schemas import MAX_EXEMPLARS, Detection, DetectionDone
from roto.jobs.schemas import JobEnvelope
from roto.objects import prompts_service
from roto.objects.rules import MAX_OBJECTS
from roto.problems import problem_responses

TAGS = ["objects"]
Wait = Annotated[
    float,
    Parameter(
        description=f"seconds to wait for the objects, 0..{prompts_service.MAX_WAIT_S:g}; "
        "0 answers 202 at once"
    ),
]


@post(
    "/",
    status_code=200,
    tags=TAGS,
    summary="Find every instance of a concept on a frame; each becomes a new object",
    description="A `detect` job runs the concept detector (SAM 3's image model) on the frame "
    'with the text (a short noun phrase), the exemplar boxes ("more like this one"), or both. '
    "Every instance scoring above `threshold`, best first and at most `max_objects`, becomes "
    'a new object named "<text> 1", "<text> 2", ... whose `category` is the text '
    '("object" for exemplar boxes alone) and whose keyframe on that frame holds the '
    "instance's mask as an imported matte. With `propagate` a `propagate` job of the new "
    "objects over the whole video follows. No match is a success with no objects. The answer "
    "is 200 with the objects and their keyframe masks when the job succeeds within `wait` "
    "seconds, else 202 with the job as it stands (its `result`, once it succeeded, is "
    '`{"object_ids": [...]}`; a failed job shows its error there). A detection counts one '
    "frame against the quota (with `propagate`, the propagation's frames too). A repeated "
    "Idempotency-Key answers the first job, again waiting up to `wait` seconds for it.",
    responses={
        200: ResponseSpec(
            DetectionDone,
            description="the detection succeeded within `wait` seconds: the job, the new "
            "objects (best first) and their masks on the frame",
            generate_examples=False,
        ),
        202: ResponseSpec(
            JobEnvelope,
            description="the detection was not done within `wait` seconds, or it failed",
            generate_examples=False,
        ),
        **problem_responses(
            {
                400: "wait outside 0..30, a malformed body or Idempotency-Key, an unknown field, "
                "a field of the wrong type, a text of 0 or more than 200 characters, an empty "
                f"list of exemplar_boxes or more than {MAX_EXEMPLARS}, a threshold outside "
                f"0..1, or max_objects outside 1..{MAX_OBJECTS}",
                402: "the detection (and the propagation it asks for) would pass the month's "
                "frame quota",
                404: "no such video for this caller (also for another user's video or a "
                "non-UUID id)",
                409: "the video is not ready, or already holds the most objects allowed "
                f"({MAX_OBJECTS})",
                422: "neither text nor exemplar_boxes, a blank text or one with control "
                "characters, a frame_index outside 0..frame_count-1, an exemplar box without "
                "x0 < x1 and y0 < y1 or outside the frame, or an Idempotency-Key reused for "
                "another video or job type",
                429: "the caller already has the most prompt or detection requests waiting "
                "(wait > 0) allowed",
            }
        ),
    },
)
async def create_detection(
    data: Detection,
    resources: ResourcesDep,
    origin: JobOriginDep,
    wait: Wait = prompts_service.DEFAULT_WAIT_S,
) -> Response[DetectionDone | JobEnvelope]:
    # A waiting detection holds one of the caller's prompt-wait slots, as a waiting click does.
    with prompts_service.waiting(resources, origin.user_id, wait):
        job, done = await service.submit_detection(resources, origin, data, wait_s=wait)
    if done is None:
        return Response(JobEnvelope(job.to_wire()), status_code=202)
    return Response(done, status_code=200)


#: Mounted under /v1/videos/{video_id}.
router = Router("/detections", route_handlers=[create_detection])
