"""HTTP handlers of objects and prompts."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, delete, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, Parameter
from litestar.response import Response

from roto.deps import JobOriginDep, ResourcesDep, UserDep
from roto.ids import parse_id
from roto.jobs.schemas import JobEnvelope
from roto.objects import prompts_service, service
from roto.objects.schemas import ObjectCreate, ObjectUpdate, Prompt, PromptMask, VideoObject
from roto.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from roto.problems import problem_responses

TAGS = ["objects"]
Wait = Annotated[
    float,
    Parameter(
        description=f"seconds to wait for the mask, 0..{prompts_service.MAX_WAIT_S:g}; "
        "0 answers 202 at once"
    ),
]
NOT_FOUND = "no such video for this caller (also for another user's video or a non-UUID id)"
NOT_READY = "the video is not ready (its size and frame count are known once ingest succeeded)"


@post(
    "/",
    status_code=201,
    tags=TAGS,
    summary="Create an object to segment",
    description="Ids are small integers, never reused within a video (a deleted object's id "
    f"stays retired). A video holds at most {service.MAX_OBJECTS} objects. Without a name the "
    "object is called `Object <id>`; without a colour it gets one from a fixed palette.",
    responses=problem_responses(
        {
            400: "an unknown field, a name over 100 characters, or a colour that is not #rrggbb",
            404: NOT_FOUND,
            409: NOT_READY + f"; or the video already has {service.MAX_OBJECTS} objects",
            422: "a blank name or one with control characters",
        }
    ),
)
async def create_object(
    video_id: FromPath[str], data: ObjectCreate, resources: ResourcesDep, user: UserDep
) -> VideoObject:
    return await service.create_object(resources, user.id, parse_id(video_id, "video"), data)


@get(
    "/",
    tags=TAGS,
    summary="The video's objects, by id",
    responses=problem_responses({400: "a bad limit or cursor", 404: NOT_FOUND}),
)
async def list_objects(
    video_id: FromPath[str],
    resources: ResourcesDep,
    user: UserDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[VideoObject]:
    return await service.list_objects(
        resources, user.id, parse_id(video_id, "video"), limit, cursor
    )


@patch(
    "/{object_id:int}",
    tags=TAGS,
    summary="Rename or recolour an object",
    description="Fields left out keep their value; prompts and masks are untouched. This "
    "endpoint is an addition to api.md for the web app's objects panel.",
    responses=problem_responses(
        {
            400: "an unknown field, a name over 100 characters, or a colour that is not #rrggbb",
            404: NOT_FOUND + "; or no such object in the video",
            422: "a blank name or one with control characters",
        }
    ),
)
async def update_object(
    video_id: FromPath[str],
    object_id: FromPath[int],
    data: ObjectUpdate,
    resources: ResourcesDep,
    user: UserDep,
) -> VideoObject:
    return await service.update_object(
        resources, user.id, parse_id(video_id, "video"), object_id, data
    )


@delete(
    "/{object_id:int}",
    status_code=204,
    tags=TAGS,
    summary="Delete an object with its prompts and masks",
    responses=problem_responses(
        {
            404: NOT_FOUND + "; or no such object in the video",
            503: "storage failed midway; the object was kept, retry the DELETE",
        }
    ),
)
async def delete_object(
    video_id: FromPath[str], object_id: FromPath[int], resources: ResourcesDep, user: UserDep
) -> None:
    await service.delete_object(resources, user.id, parse_id(video_id, "video"), object_id)


@post(
    "/",
    status_code=200,
    tags=TAGS,
    summary="Click on an object: store the prompt and compute its mask",
    description="The prompt makes its frame a keyframe of the object (`mode: replace` first "
    "drops the object's earlier prompts on that frame) and starts a `segment` job. The answer "
    "is 200 with the mask when the job succeeds within `wait` seconds, else 202 with the job "
    "as it stands (a failed job shows its error there). A repeated Idempotency-Key answers the "
    "first job, again waiting up to `wait` seconds for it.",
    responses={
        # Overrides the union that the return annotation would document under 200.
        200: ResponseSpec(
            PromptMask,
            description="the segment job succeeded within `wait` seconds: the job and its mask",
            generate_examples=False,
        ),
        202: ResponseSpec(
            JobEnvelope,
            description="the mask was not ready within `wait` seconds, or the job failed",
            generate_examples=False,
        ),
        **problem_responses(
            {
                400: "wait outside 0..30, a malformed body or Idempotency-Key, a field of the "
                "wrong type, an unknown field, or a label other than 0 or 1",
                404: NOT_FOUND,
                409: NOT_READY,
                422: "an object_id that is not an object of the video, a frame_index outside "
                "0..frame_count-1, a point outside [0, width) x [0, height), labels and points "
                f"of different lengths, more than {prompts_service.MAX_POINTS} points, neither a "
                "point nor a box, a box without x0 < x1 and y0 < y1 or outside the frame, or an "
                "Idempotency-Key reused for another video or job type",
            }
        ),
    },
)
async def create_prompt(
    data: Prompt,
    resources: ResourcesDep,
    origin: JobOriginDep,
    wait: Wait = prompts_service.DEFAULT_WAIT_S,
) -> Response[PromptMask | JobEnvelope]:
    job, mask = await prompts_service.submit_prompt(resources, origin, data, wait_s=wait)
    if mask is None:
        return Response(JobEnvelope(job.to_wire()), status_code=202)
    return Response(PromptMask(job.to_wire(), mask), status_code=200)


#: Mounted under /v1/videos/{video_id}.
router = Router(
    "/objects", route_handlers=[create_object, list_objects, update_object, delete_object]
)
prompts_router = Router("/prompts", route_handlers=[create_prompt])
