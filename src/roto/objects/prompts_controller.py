"""HTTP handlers of prompts: click (or box, or imported matte), the prompt history, and undo."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, Parameter
from litestar.response import Response

from roto.deps import JobOriginDep, ResourcesDep, UserDep
from roto.ids import parse_id
from roto.objects import prompts_service
from roto.objects.schemas import Prompt, PromptJob, PromptMask, PromptRecord, PromptRemoved
from roto.objects.service import MAX_OBJECT_ID
from roto.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from roto.problems import problem_responses

TAGS = ["objects"]
MAX_FRAME_INDEX = 2**31 - 1
Wait = Annotated[
    float,
    Parameter(
        description=f"seconds to wait for the mask, 0..{prompts_service.MAX_WAIT_S:g}; "
        "0 answers 202 at once"
    ),
]
# Bounded like the integer columns they are compared with: a larger value is a 400 naming it,
# not a query PostgreSQL refuses (a 500).
ObjectFilter = Annotated[
    int | None,
    Parameter(ge=1, le=MAX_OBJECT_ID, description="only this object's prompts"),
]
FrameFilter = Annotated[
    int | None, Parameter(ge=0, le=MAX_FRAME_INDEX, description="only prompts on this frame")
]
NOT_FOUND = "no such video for this caller (also for another user's video or a non-UUID id)"
NOT_READY = "the video is not ready (its size and frame count are known once ingest succeeded)"
WAITING_TOO_MANY = "the caller already has the most prompt requests waiting (wait > 0) allowed"
WAITED = {
    # Overrides the union that the return annotation would document under 200.
    200: ResponseSpec(
        PromptMask,
        description="the segment job succeeded within `wait` seconds: the job, its mask and the "
        "prompt",
        generate_examples=False,
    ),
    202: ResponseSpec(
        PromptJob,
        description="the mask was not ready within `wait` seconds, or the job failed",
        generate_examples=False,
    ),
}


@post(
    "/",
    status_code=200,
    tags=TAGS,
    summary="Click on an object: store the prompt and compute its mask",
    description="The prompt makes its frame a keyframe of the object (`mode: replace` first "
    "drops the object's earlier prompts on that frame) and starts a `segment` job. On a frame "
    "where the object already has a mask (from earlier prompts there, or from propagation) the "
    "prompt refines it as SAM2's video predictor does: the previous mask logits go into the "
    "decoder, with the tracker's memory of the other frames where the frame was tracked. `mask` "
    "imports a matte (COCO RLE at the source resolution) as the object's mask on the frame. "
    "The answer is 200 with the mask when the job succeeds within `wait` seconds, else 202 "
    "with the job as it stands (a failed job shows its error there); both carry the stored "
    "prompt. A repeated Idempotency-Key answers the first job, again waiting up to `wait` "
    "seconds for it. A user may have `ROTO_MAX_PROMPT_WAITS_PER_USER` requests waiting at once "
    "(per API process); one more answers 429 with Retry-After (`wait=0` never waits).",
    responses={
        **WAITED,
        **problem_responses(
            {
                400: "wait outside 0..30, a malformed body or Idempotency-Key, a field of the "
                "wrong type, an unknown field, or a label other than 0 or 1",
                404: NOT_FOUND,
                409: NOT_READY + "; or the prompt an Idempotency-Key stored was deleted since",
                422: "an object_id that is not an object of the video, a frame_index outside "
                "0..frame_count-1, a point outside [0, width) x [0, height), labels and points "
                "of different lengths, a keyframe that would hold more than "
                f"{prompts_service.MAX_POINTS} points in all, no point, box or mask, a box "
                "without x0 < x1 and y0 < y1 or outside the frame, a mask of another size or "
                "not a compressed COCO RLE, or an Idempotency-Key reused for another video or "
                "job type or with another body",
                429: WAITING_TOO_MANY,
            }
        ),
    },
)
async def create_prompt(
    data: Prompt,
    resources: ResourcesDep,
    origin: JobOriginDep,
    wait: Wait = prompts_service.DEFAULT_WAIT_S,
) -> Response[PromptMask | PromptJob]:
    with prompts_service.waiting(resources, origin.user_id, wait):
        job, mask, record = await prompts_service.submit_prompt(
            resources, origin, data, wait_s=wait
        )
    if mask is None:
        return Response(PromptJob(job.to_wire(), record), status_code=202)
    return Response(PromptMask(job.to_wire(), mask, record), status_code=200)


@get(
    "/",
    tags=TAGS,
    summary="The prompt history, oldest first",
    description="An object's keyframes are the frames that hold its prompts. Filter by "
    "`object_id` and/or `frame_index`.",
    responses=problem_responses({400: "a bad limit or cursor", 404: NOT_FOUND}),
)
async def list_prompts(
    video_id: FromPath[str],
    resources: ResourcesDep,
    user: UserDep,
    object_id: ObjectFilter = None,
    frame_index: FrameFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[PromptRecord]:
    return await prompts_service.list_prompts(
        resources,
        user.id,
        parse_id(video_id, "video"),
        object_id=object_id,
        frame_index=frame_index,
        limit=limit,
        cursor=cursor,
    )


@delete(
    "/{prompt_id:str}",
    status_code=200,
    tags=TAGS,
    summary="Undo a prompt: its keyframe is recomputed from the prompts left",
    description="Deleting the last prompt of a frame gives back exactly the mask the frame had "
    "before it. With prompts left, a `segment` job recomputes the keyframe (200 with its mask "
    "within `wait` seconds, else 202); with none left the frame is no longer a keyframe, gets "
    "back the propagated mask it had before its first prompt (or none), and the answer is 200 "
    "with `job` and `mask` null. Either way the deleted prompt comes back, to post again for a "
    "redo.",
    responses={
        200: ResponseSpec(PromptRemoved, generate_examples=False),
        202: ResponseSpec(PromptRemoved, generate_examples=False),
        **problem_responses(
            {
                400: "wait outside 0..30",
                404: NOT_FOUND + "; or no such prompt in this video (also another user's)",
                409: NOT_READY,
                429: WAITING_TOO_MANY,
            }
        ),
    },
)
async def delete_prompt(
    prompt_id: FromPath[str],
    resources: ResourcesDep,
    origin: JobOriginDep,
    wait: Wait = prompts_service.DEFAULT_WAIT_S,
) -> Response[PromptRemoved]:
    with prompts_service.waiting(resources, origin.user_id, wait):
        job, mask, record = await prompts_service.delete_prompt(
            resources, origin, parse_id(prompt_id, "prompt"), wait_s=wait
        )
    answer = PromptRemoved(job.to_wire() if job else None, mask, record)
    return Response(answer, status_code=202 if job is not None and mask is None else 200)


#: Mounted under /v1/videos/{video_id}.
router = Router("/prompts", route_handlers=[create_prompt, list_prompts, delete_prompt])
