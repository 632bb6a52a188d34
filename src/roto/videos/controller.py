"""HTTP handlers of videos: uploads, the video list, deletion and frames."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Router, delete, get, post
from litestar.params import FromPath, Parameter
from litestar.response import Redirect, Response

from roto.deps import JobOriginDep, ResourcesDep, UserDep
from roto.ids import parse_id
from roto.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from roto.problems import problem_responses
from roto.videos import service
from roto.videos.schemas import UploadComplete, Video, VideoCreate, VideoCreated, VideoIngest

TAGS = ["videos"]
NOT_FOUND = "no such video for this caller (also for another user's video or a non-UUID id)"
STORAGE_DOWN = "storage did not answer; nothing was changed, retry"


@post(
    "/",
    status_code=201,
    tags=TAGS,
    summary="Announce an upload",
    description="Answers where to send the file: one presigned PUT, or presigned part URLs "
    "(MULTIPART) above the multipart threshold. Then call upload-complete. The PUT URL is "
    "signed for exactly `size_bytes` (Content-Length) and `content_type` (send the returned "
    "`headers`); each part URL for exactly its part's size: storage refuses anything else.",
    responses=problem_responses(
        {
            422: "filename with a path or control characters, a content type other than "
            "video/* or application/octet-stream, or size_bytes over the upload limit",
            503: STORAGE_DOWN,
        }
    ),
)
async def create_video(data: VideoCreate, resources: ResourcesDep, user: UserDep) -> VideoCreated:
    video, upload = await service.create_video(resources, user.id, data)
    return VideoCreated(video, upload)


@post(
    "/upload-complete",
    status_code=202,
    tags=TAGS,
    summary="Finish the upload and start ingest",
    description="Send `{}` after a single PUT, or every part's number and ETag after a "
    "multipart upload. The stored file must have the announced size and content type. What "
    "ingest reads is fixed here (a single PUT is copied to a key no URL points at; a "
    "completed multipart upload takes no more parts), so nothing written through the upload "
    "URL afterwards changes the video. A repeated Idempotency-Key answers the first job "
    "again.",
    responses=problem_responses(
        {
            404: NOT_FOUND,
            409: "the file was not uploaded yet, the video is not awaiting_upload, or the file "
            "changed while the upload was being completed",
            422: "parts missing or refused by storage, the stored size differs from "
            "size_bytes or the stored type from content_type, or an Idempotency-Key reused for "
            "another request",
            503: STORAGE_DOWN,
        }
    ),
)
async def complete_upload(
    data: UploadComplete, resources: ResourcesDep, origin: JobOriginDep
) -> VideoIngest:
    video, job = await service.complete_upload(resources, origin, data)
    return VideoIngest(video.to_wire(), job.to_wire())


@get("/", tags=TAGS, summary="The caller's videos, newest first")
async def list_videos(
    resources: ResourcesDep,
    user: UserDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[Video]:
    return await service.list_videos(resources, user.id, limit, cursor)


@get(
    "/",
    tags=TAGS,
    summary="One video",
    responses=problem_responses({404: NOT_FOUND}),
)
async def get_video(video_id: FromPath[str], resources: ResourcesDep, user: UserDep) -> Video:
    video = await service.get_video(resources, user.id, parse_id(video_id, "video"))
    return video.to_wire()


@delete(
    "/",
    status_code=204,
    tags=TAGS,
    summary="Delete a video with everything stored for it",
    description="Its unfinished jobs are canceled first (their event streams end with a "
    "`canceled` status) and stop; nothing they write afterwards is kept.",
    responses=problem_responses(
        {404: NOT_FOUND, 503: "storage failed midway; the video was kept, retry the DELETE"}
    ),
)
async def delete_video(video_id: FromPath[str], resources: ResourcesDep, user: UserDep) -> None:
    await service.delete_video(resources, user.id, parse_id(video_id, "video"))


FrameSize = Annotated[
    Literal["full", "proxy"],
    Parameter(
        description="`full` (default): the frame at the video's resolution. `proxy`: the "
        "frame at most 960 px on its long side, made at ingest for scrubbing and playback "
        "(the full frame when the video is no larger, or was ingested before proxies)"
    ),
]


@get(
    "/frames/{frame_index:int}",
    status_code=307,
    tags=TAGS,
    summary="A frame as JPEG: a 307 redirect to a presigned storage URL",
    description="Frames are stored upright, as a player shows them. `?size=proxy` redirects "
    "to the frame's proxy (long side at most 960 px), for scrubbing and playback.",
    responses=problem_responses(
        {
            400: "size other than full or proxy",
            404: NOT_FOUND + "; or frame_index outside 0..frame_count-1",
            409: "the video is not ready (frames exist once ingest succeeded)",
        }
    ),
)
async def get_frame(
    video_id: FromPath[str],
    frame_index: FromPath[int],
    resources: ResourcesDep,
    user: UserDep,
    size: FrameSize = "full",
) -> Response[Any]:
    url = await service.frame_url(
        resources, user.id, parse_id(video_id, "video"), frame_index, proxy=size == "proxy"
    )
    return Redirect(url, status_code=307)


#: /v1/videos: the caller's videos.
collection = Router("/v1/videos", route_handlers=[create_video, list_videos])
#: Mounted under /v1/videos/{video_id}: one video.
resource = Router("/", route_handlers=[complete_upload, get_video, delete_video, get_frame])
