"""HTTP handlers of masks: the masks of a frame range, and a frame's matte as a PNG."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, Parameter
from litestar.response import Response

from roto.deps import ResourcesDep, UserDep
from roto.ids import parse_id
from roto.masks import service
from roto.masks.schemas import VideoMasks
from roto.mattes.schemas import MAX_AREA_PX, MAX_FEATHER_PX, MAX_GROW_PX, Matte, SoftEdges
from roto.objects.service import MAX_OBJECTS
from roto.problems import problem_responses

TAGS = ["masks"]
NOT_FOUND = "no such video for this caller (also for another user's video or a non-UUID id)"
NOT_READY = "the video is not ready (masks exist once ingest succeeded)"
FrameStart = Annotated[
    int | None, Parameter(description="first frame (default 0), 0..frame_count-1")
]
FrameEnd = Annotated[
    int | None,
    Parameter(description="last frame, inclusive (default frame_count-1), not before frame_start"),
]
ObjectIds = Annotated[
    str | None,
    Parameter(
        description=f"comma-separated object ids, e.g. `1,2` (at most {MAX_OBJECTS}); default "
        "every object. An id of no object matches no mask."
    ),
]
ObjectId = Annotated[
    int | None, Parameter(description="one object's matte; default the union of every object's")
]
GrowPx = Annotated[
    int,
    Parameter(
        ge=-MAX_GROW_PX,
        le=MAX_GROW_PX,
        description="grow (positive) or shrink (negative) the mask by this many pixels",
    ),
]
FeatherPx = Annotated[
    int,
    Parameter(ge=0, le=MAX_FEATHER_PX, description="soften the edge over this many pixels"),
]
HolesPx = Annotated[
    int, Parameter(ge=0, le=MAX_AREA_PX, description="fill holes of at most this many pixels")
]
IslandsPx = Annotated[
    int,
    Parameter(ge=0, le=MAX_AREA_PX, description="remove regions of at most this many pixels"),
]
SoftEdgesParam = Annotated[
    SoftEdges,
    Parameter(
        description="`guided`: edge-aware filter guided by the frame's pixels; `matting`: "
        "alpha-matting solve in a band around the edge (slower)"
    ),
]
MatteName = Annotated[
    str,
    Parameter(
        description="`<frame_index>.png`, e.g. `12.png`: the 0-based frame, then `.png`",
    ),
]


@get(
    "/",
    tags=TAGS,
    summary="The stored masks of a frame range",
    description="Only frames with at least one mask are listed, in frame order, their masks in "
    f"object order. One answer covers at most {service.MAX_FRAMES} frames and "
    f"{service.MAX_MASKS} masks from `frame_start` on; when it stops before `frame_end`, "
    "`next_frame_start` says where to continue (else it is null).",
    responses=problem_responses(
        {
            400: "frame_start or frame_end outside 0..frame_count-1, frame_start after "
            "frame_end, or object_ids that are not comma-separated positive integers",
            404: NOT_FOUND,
            409: NOT_READY,
            503: "storage did not answer; retry",
        }
    ),
)
async def list_masks(
    video_id: FromPath[str],
    resources: ResourcesDep,
    user: UserDep,
    frame_start: FrameStart = None,
    frame_end: FrameEnd = None,
    object_ids: ObjectIds = None,
) -> VideoMasks:
    return await service.list_masks(
        resources,
        user.id,
        parse_id(video_id, "video"),
        frame_start=frame_start,
        frame_end=frame_end,
        object_ids=object_ids,
    )


@get(
    "/{matte:str}",
    media_type="image/png",
    tags=TAGS,
    summary="A frame's matte as an 8-bit PNG: /masks/{frame_index}.png",
    description="Single-channel 8-bit PNG at the source resolution, 255 inside the mask and 0 "
    "outside; without `object_id` the union of every object's mask on the frame. The `Matte` "
    "fields of an export (all but `smooth_frames`) shape it, computed by the same code: with "
    "`object_id` it is byte for byte the file an 8-bit `png_sequence` export with that `matte` "
    "writes for the frame. Soft edges are guided by the stored frame (the JPEG that "
    "`/frames/{frame_index}` serves), as in the export. It is computed in bands of rows, so "
    "its memory does not grow with the frame (soft edges also decode the frame's JPEG).",
    responses={
        # No generated example: a random one would make the schema differ from run to run.
        200: ResponseSpec(
            bytes, description="the matte", media_type="image/png", generate_examples=False
        ),
        **problem_responses(
            {
                400: "object_id is not an integer; a Matte field out of its range (grow_px "
                "-64..64, feather_px 0..64, fill_holes_px and remove_islands_px 0..4096) or "
                "soft_edges not none, guided or matting",
                404: NOT_FOUND + "; a name other than <frame_index>.png, a frame outside "
                "0..frame_count-1, an object not in the video, or no mask of the object "
                "(or of any object) on that frame yet",
                409: NOT_READY,
                503: "storage did not answer (or lost the stored frame soft edges need); retry",
            }
        ),
    },
)
async def frame_matte(
    video_id: FromPath[str],
    matte: MatteName,
    resources: ResourcesDep,
    user: UserDep,
    object_id: ObjectId = None,
    grow_px: GrowPx = 0,
    feather_px: FeatherPx = 0,
    fill_holes_px: HolesPx = 0,
    remove_islands_px: IslandsPx = 0,
    soft_edges: SoftEdgesParam = "none",
) -> Response[bytes]:
    shaping = Matte(
        grow_px=grow_px,
        feather_px=feather_px,
        fill_holes_px=fill_holes_px,
        remove_islands_px=remove_islands_px,
        soft_edges=soft_edges,
    )
    png = await service.frame_matte(
        resources, user.id, parse_id(video_id, "video"), matte, object_id, shaping
    )
    return Response(png, media_type="image/png")


#: Mounted under /v1/videos/{video_id}.
router = Router("/masks", route_handlers=[list_masks, frame_matte])
