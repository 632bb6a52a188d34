"""HTTP handlers of objects and prompts."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, delete, get, patch, post
from litestar.params import FromPath, Parameter

from roto.deps import ResourcesDep, UserDep
from roto.ids import parse_id
from roto.objects import prompts_service, service
from roto.objects.schemas import ObjectCreate, ObjectUpdate, VideoObject
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


@delete(
    "/{object_id:int}/keyframes/{frame_index:int}",
    status_code=204,
    tags=TAGS,
    summary="End a keyframe: delete every prompt of the object on that frame",
    description="The frame is no longer a keyframe; its mask goes back to the propagated mask it "
    "had before its first prompt (or to none). The spans next to it become stale.",
    responses=problem_responses(
        {404: NOT_FOUND + "; or no such object, or the object has no prompt on that frame"}
    ),
)
async def delete_keyframe(
    video_id: FromPath[str],
    object_id: FromPath[int],
    frame_index: FromPath[int],
    resources: ResourcesDep,
    user: UserDep,
) -> None:
    await prompts_service.delete_keyframe(
        resources, user.id, parse_id(video_id, "video"), object_id, frame_index
    )


#: Mounted under /v1/videos/{video_id}.
router = Router(
    "/objects",
    route_handlers=[create_object, list_objects, update_object, delete_object, delete_keyframe],
)
