"""Use cases of objects: create one in a ready video, list them, delete one with its masks."""

from __future__ import annotations

import base64
import binascii
import uuid

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from redis.exceptions import RedisError

from roto import storage
from roto.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, Unprocessable
from roto.masks import repository as masks_repo
from roto.masks import storage as mask_storage
from roto.objects import prompts_repository as prompts_repo
from roto.objects import repository as repo
from roto.objects.rules import MAX_OBJECT_ID, MAX_OBJECTS, default_color, name_problem
from roto.objects.schemas import ObjectCreate, ObjectUpdate, VideoObject
from roto.pagination import Page
from roto.resources import Resources
from roto.videos.service import get_video, ready_video

log = structlog.get_logger(__name__)

#: Keys per Redis DEL, so a long video's hot copies do not make one huge command.
HOT_DELETE_BATCH = 500
_S3_ERRORS = (ClientError, BotoCoreError, storage.StorageError, OSError)


def check_name(name: str, field: str = "name") -> str:
    """The text without surrounding blanks; 422 naming ``field`` if nothing or controls remain."""
    problem = name_problem(name)
    if problem is not None:
        raise Unprocessable(f"{field}: {problem}", errors=[{"key": field, "message": problem}])
    return name.strip()


def check_category(category: str) -> str:
    """A category as ``check_name`` checks a name (422 naming ``category``)."""
    return check_name(category, "category")


def encode_object_cursor(object_id: int) -> str:
    return base64.urlsafe_b64encode(f"object:{object_id}".encode()).decode().rstrip("=")


def decode_object_cursor(cursor: str) -> int:
    """The last object id of the previous page; a malformed cursor is a 400 naming ``cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        object_id = int(value)
        if kind != "object" or not 0 < object_id <= MAX_OBJECT_ID:
            raise ValueError(raw)
        return object_id
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise BadRequest(
            "cursor: not a cursor returned by this API",
            errors=[{"key": "cursor", "message": "invalid cursor"}],
        ) from exc


async def create_object(
    resources: Resources, user_id: uuid.UUID, video_id: uuid.UUID, body: ObjectCreate
) -> VideoObject:
    """A new object with the video's next id."""
    ready_video(await get_video(resources, user_id, video_id))
    name = check_name(body.name) if body.name is not None else None
    async with resources.pool.acquire() as conn, conn.transaction():
        object_id = await repo.allocate_object_id(conn, video_id, user_id)
        if object_id is None:
            raise NotFound(f"video {video_id} not found")
        if await repo.count_objects(conn, video_id) >= MAX_OBJECTS:
            raise Conflict(f"video {video_id} already has {MAX_OBJECTS} objects, the most allowed")
        row = await repo.insert_object(
            conn,
            video_id,
            object_id,
            name or f"Object {object_id}",
            (body.color or default_color(object_id)).lower(),
            check_category(body.category) if body.category is not None else repo.DEFAULT_CATEGORY,
        )
    return row.to_wire()


async def list_objects(
    resources: Resources, user_id: uuid.UUID, video_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[VideoObject]:
    after = decode_object_cursor(cursor) if cursor else 0
    await get_video(resources, user_id, video_id)
    rows = await repo.list_objects(resources.pool, video_id, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_object_cursor(page[-1].object_id) if more else None
    return Page([row.to_wire() for row in page], next_cursor)


async def update_object(
    resources: Resources,
    user_id: uuid.UUID,
    video_id: uuid.UUID,
    object_id: int,
    body: ObjectUpdate,
) -> VideoObject:
    """Rename or recolour an object; its prompts and masks are untouched."""
    await get_video(resources, user_id, video_id)
    name = check_name(body.name) if body.name is not None else None
    color = body.color.lower() if body.color is not None else None
    category = check_category(body.category) if body.category is not None else None
    row = None
    if 0 < object_id <= MAX_OBJECT_ID:
        row = await repo.update_object(resources.pool, video_id, object_id, name, color, category)
    if row is None:
        raise NotFound(f"object {object_id} not found in video {video_id}")
    return row.to_wire()


async def delete_object(
    resources: Resources, user_id: uuid.UUID, video_id: uuid.UUID, object_id: int
) -> None:
    """Delete the stored masks first, then the row: a storage failure leaves a retryable row."""
    await get_video(resources, user_id, video_id)
    missing = NotFound(f"object {object_id} not found in video {video_id}")
    if not 0 < object_id <= MAX_OBJECT_ID:
        raise missing
    async with resources.pool.acquire() as conn:
        if await repo.get_object(conn, video_id, object_id) is None:
            raise missing
        frames = set(await masks_repo.object_mask_frames(conn, video_id, object_id))
        frames.update(await prompts_repo.keyframes(conn, video_id, object_id))
    s3, bucket = resources.s3, resources.settings.s3_bucket
    prefix = mask_storage.object_masks_prefix(video_id, object_id)
    try:
        await storage.delete_prefix(s3, bucket, prefix)
    except _S3_ERRORS as exc:
        log.warning("object_delete_storage_failed", video_id=str(video_id), error=repr(exc))
        raise ServiceUnavailable("storage is unavailable; the object was kept, try again") from exc
    async with resources.pool.acquire() as conn:
        if not await repo.delete_object(conn, video_id, object_id):
            raise missing
    try:
        # A segment job that was storing a mask while we deleted may have left a straggler.
        await storage.delete_prefix(s3, bucket, prefix)
    except _S3_ERRORS as exc:
        log.warning("object_delete_sweep_failed", video_id=str(video_id), error=repr(exc))
    await _drop_hot_copies(resources, video_id, object_id, sorted(frames))


async def _drop_hot_copies(
    resources: Resources, video_id: uuid.UUID, object_id: int, frames: list[int]
) -> None:
    # Readers only look up hot copies of indexed masks, so a copy left behind is never served;
    # deleting them just frees the memory before their TTL does.
    keys = [mask_storage.hot_mask_key(video_id, object_id, frame) for frame in frames]
    try:
        for start in range(0, len(keys), HOT_DELETE_BATCH):
            await resources.redis.delete(*keys[start : start + HOT_DELETE_BATCH])
    except (RedisError, OSError) as exc:
        log.warning("object_delete_hot_copies_failed", video_id=str(video_id), error=repr(exc))
