"""Use cases of masks: the masks of a frame range, and one frame's matte as a PNG."""

from __future__ import annotations

import re
import uuid
from itertools import groupby

import anyio
import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from roto.errors import BadRequest, NotFound, ServiceUnavailable
from roto.masks import repository as repo
from roto.masks.loading import MaskLoader
from roto.masks.matte import preview_png
from roto.masks.schemas import FrameMasks, VideoMasks
from roto.mattes.schemas import Matte
from roto.objects import repository as objects_repo
from roto.objects.service import MAX_OBJECT_ID, MAX_OBJECTS
from roto.resources import Resources
from roto.storage import object_bytes
from roto.videos.repository import VideoRow
from roto.videos.service import get_video, ready_video
from roto.videos.storage import frame_key

#: Frames one answer covers at most; ``next_frame_start`` says where the rest begins.
MAX_FRAMES = 500
#: Matte renders at once per API process: each holds its frame's planes (a 1080p matting solve,
#: hundreds of MiB at 8K), so a burst of matte requests queues instead of growing memory.
MATTE_RENDERS = anyio.CapacityLimiter(2)
#: Masks one answer holds at most, cut at a frame boundary (a frame has <= MAX_OBJECTS masks).
MAX_MASKS = 2000
_MATTE_NAME = re.compile(r"^(?P<frame>[0-9]{1,10})\.png$")


class Span(msgspec.Struct, frozen=True):
    first: int
    last: int


def _bad(field: str, message: str) -> BadRequest:
    return BadRequest(
        f"{field}: {message}", errors=[{"key": field, "message": message, "source": "query"}]
    )


def check_span(frame_start: int | None, frame_end: int | None, frame_count: int) -> Span:
    """The inclusive frame range asked for (default: the whole video); 400 naming a bad bound."""
    first = 0 if frame_start is None else frame_start
    last = frame_count - 1 if frame_end is None else frame_end
    if not 0 <= first < frame_count:
        raise _bad("frame_start", f"must be 0..{frame_count - 1}")
    if not 0 <= last < frame_count:
        raise _bad("frame_end", f"must be 0..{frame_count - 1} (it is inclusive)")
    if first > last:
        raise _bad("frame_start", "must not be after frame_end")
    return Span(first, last)


def parse_object_ids(raw: str | None) -> list[int] | None:
    """``"1,2"`` -> ``[1, 2]`` (sorted, without repeats); None for every object."""
    if raw is None:
        return None
    ids = set()
    for item in raw.split(","):
        text = item.strip()
        if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_OBJECT_ID:
            raise _bad("object_ids", f"{item!r} is not an object id; use ids like 1,2")
        ids.add(int(text))
    if len(ids) > MAX_OBJECTS:
        raise _bad("object_ids", f"at most {MAX_OBJECTS} ids")
    return sorted(ids)


def matte_frame(name: str) -> int:
    """``"12.png"`` -> 12; anything else names no matte (404)."""
    match = _MATTE_NAME.match(name)
    if match is None:
        raise NotFound(f"no matte {name!r}: mattes are named <frame_index>.png")
    return int(match["frame"])


async def list_masks(
    resources: Resources,
    user_id: uuid.UUID,
    video_id: uuid.UUID,
    *,
    frame_start: int | None,
    frame_end: int | None,
    object_ids: str | None,
) -> VideoMasks:
    """The frames of the range that have masks, at most ``MAX_FRAMES`` frames and
    ``MAX_MASKS`` masks from ``frame_start`` on."""
    video = ready_video(await get_video(resources, user_id, video_id))
    span = check_span(frame_start, frame_end, video.frame_count or 0)
    ids = parse_object_ids(object_ids)
    last = min(span.last, span.first + MAX_FRAMES - 1)
    async with resources.pool.acquire() as conn:
        rows = await repo.list_masks(
            conn,
            video_id,
            frame_start=span.first,
            frame_end=last,
            object_ids=ids,
            limit=MAX_MASKS + 1,
        )
    next_start = last + 1 if last < span.last else None
    if len(rows) > MAX_MASKS:
        # Too many masks: stop before the frame that did not fit whole.
        next_start = rows[MAX_MASKS].frame_index
        rows = [row for row in rows if row.frame_index < next_start]
    masks = await MaskLoader(resources, _size(video)).load(rows)
    frames = [
        FrameMasks(frame_index=index, masks=list(group))
        for index, group in groupby(masks, key=lambda mask: mask.frame_index)
    ]
    return VideoMasks(
        video_id=str(video_id),
        width=video.width or 0,
        height=video.height or 0,
        frames=frames,
        next_frame_start=next_start,
    )


async def frame_matte(
    resources: Resources,
    user_id: uuid.UUID,
    video_id: uuid.UUID,
    name: str,
    object_id: int | None,
    matte: Matte | None = None,
) -> bytes:
    """The PNG matte of one object's mask on a frame, or of the union of all its objects' masks,
    shaped by ``matte`` as an 8-bit ``png_sequence`` export shapes it."""
    matte = matte or Matte()
    video = await get_video(resources, user_id, video_id)
    frame_index = matte_frame(name)
    ready_video(video)
    frame_count = video.frame_count or 0
    if frame_index >= frame_count:
        raise NotFound(
            f"frame {frame_index} not found: the video has {frame_count} frames",
            errors=[{"key": "frame_index", "message": f"must be 0..{frame_count - 1}"}],
        )
    async with resources.pool.acquire() as conn:
        if object_id is None:
            rows = await repo.list_masks(
                conn,
                video_id,
                frame_start=frame_index,
                frame_end=frame_index,
                object_ids=None,
                limit=MAX_OBJECTS * 2,
            )
            missing = f"no masks on frame {frame_index} yet"
        else:
            if not 0 < object_id <= MAX_OBJECT_ID or (
                await objects_repo.get_object(conn, video_id, object_id) is None
            ):
                raise NotFound(
                    f"object {object_id} not found in video {video_id}",
                    errors=[{"key": "object_id", "message": "no such object"}],
                )
            row = await repo.get_mask(conn, video_id, object_id, frame_index)
            rows = [] if row is None else [row]
            missing = f"no mask of object {object_id} on frame {frame_index} yet"
    masks = await MaskLoader(resources, _size(video)).load(rows)
    if not masks:
        raise NotFound(missing)
    height, width = _size(video)
    frame_jpeg = (
        await _stored_frame(resources, video_id, frame_index) if matte.needs_pixels else None
    )
    rles = [mask.rle for mask in masks]
    return await anyio.to_thread.run_sync(
        preview_png, rles, height, width, matte, frame_jpeg, limiter=MATTE_RENDERS
    )


async def _stored_frame(resources: Resources, video_id: uuid.UUID, frame_index: int) -> bytes:
    """The frame's stored JPEG, whose pixels guide soft edges (as in the export)."""
    bucket = resources.settings.s3_bucket
    try:
        data = await object_bytes(resources.s3, bucket, frame_key(video_id, frame_index))
    except (ClientError, BotoCoreError, OSError) as exc:
        raise ServiceUnavailable("storage is unavailable; try again") from exc
    if data is None:
        raise ServiceUnavailable(f"frame {frame_index} is missing from storage")
    return data


def _size(video: VideoRow) -> list[int]:
    """The RLE size of the video's masks: [height, width]."""
    return [video.height or 0, video.width or 0]
