"""Use cases of videos: announce an upload, complete it into an ingest job, list, delete, frames."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import asyncpg
import structlog
from botocore.exceptions import BotoCoreError, ClientError
from redis.exceptions import RedisError

from roto import storage
from roto.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from roto.jobs import events
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import INGEST, IngestPayload
from roto.jobs.submit import JobOrigin, JobSpec, submit_job
from roto.pagination import Page, decode_cursor, encode_cursor
from roto.resources import Resources
from roto.timefmt import rfc3339, utcnow
from roto.videos import repository as repo
from roto.videos.schemas import (
    CompletedPart,
    MultipartUpload,
    PutUpload,
    Upload,
    UploadComplete,
    UploadPart,
    Video,
    VideoCreate,
)
from roto.videos.storage import (
    frame_key,
    ingested_source_key,
    proxy_frame_key,
    source_key,
    video_prefixes,
)

log = structlog.get_logger(__name__)

_VIDEO_TYPE = re.compile(r"^video/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_GENERIC_TYPE = "application/octet-stream"
_S3_ERRORS = (ClientError, BotoCoreError, storage.StorageError, OSError)


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"{field}: {message}", errors=[{"key": field, "message": message}])


def check_new_video(body: VideoCreate, max_upload_bytes: int) -> None:
    """Refuse a filename, content type or size that cannot become a video (422 naming it)."""
    name = body.filename
    if any(ch in name for ch in "/\\") or name in {".", ".."}:
        raise _invalid("filename", "must be a bare file name without path separators")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in name):
        raise _invalid("filename", "must not contain control characters")
    if not name.strip():
        raise _invalid("filename", "must not be blank")
    content_type = body.content_type.lower()
    if content_type != _GENERIC_TYPE and not _VIDEO_TYPE.match(content_type):
        raise _invalid("content_type", f"must be video/* or {_GENERIC_TYPE}")
    if body.size_bytes > max_upload_bytes:
        raise _invalid("size_bytes", f"must be at most {max_upload_bytes} bytes")


def sorted_parts(parts: list[CompletedPart] | None) -> list[tuple[int, str]]:
    """(part_number, etag) in ascending order, refusing a missing list or repeated numbers."""
    if not parts:
        raise _invalid("parts", "a multipart upload needs the part_number and etag of each part")
    numbers = [part.part_number for part in parts]
    if len(set(numbers)) != len(numbers):
        raise _invalid("parts", "each part_number may appear only once")
    return sorted((part.part_number, part.etag) for part in parts)


async def create_video(
    resources: Resources, user_id: uuid.UUID, body: VideoCreate
) -> tuple[Video, Upload]:
    """A new ``awaiting_upload`` video and where to upload its file."""
    settings = resources.settings
    check_new_video(body, settings.max_upload_bytes)
    video_id = uuid.uuid4()
    key = source_key(video_id)
    bucket, ttl = settings.s3_bucket, settings.presign_ttl_s
    expires_at = rfc3339(utcnow() + timedelta(seconds=ttl)) or ""
    upload: Upload
    upload_id = None
    try:
        if body.size_bytes <= settings.multipart_threshold_bytes:
            url = await storage.presign_put(
                resources.s3, bucket, key, body.content_type, body.size_bytes, ttl
            )
            upload = PutUpload(url, {"Content-Type": body.content_type}, expires_at)
        else:
            part_size, _ = storage.plan_parts(body.size_bytes, settings.multipart_part_size_bytes)
            sizes = storage.part_sizes(body.size_bytes, part_size)
            upload_id = await storage.start_multipart(resources.s3, bucket, key, body.content_type)
            urls = await storage.presign_parts(resources.s3, bucket, key, upload_id, sizes, ttl)
            parts = [UploadPart(number, url) for number, url in enumerate(urls, start=1)]
            upload = MultipartUpload(upload_id, part_size, parts, expires_at)
    except _S3_ERRORS as exc:
        raise ServiceUnavailable("storage is unavailable; try again") from exc
    row = await repo.insert_video(
        resources.pool,
        video_id=video_id,
        user_id=user_id,
        filename=body.filename,
        content_type=body.content_type,
        size_bytes=body.size_bytes,
        source_key=key,
        upload_id=upload_id,
    )
    return row.to_wire(), upload


async def get_video(resources: Resources, user_id: uuid.UUID, video_id: uuid.UUID) -> repo.VideoRow:
    """The caller's video, or a 404 (also for another user's)."""
    video = await repo.get_video_for_user(resources.pool, video_id, user_id)
    if video is None:
        raise NotFound(f"video {video_id} not found")
    return video


def ready_video(video: repo.VideoRow) -> repo.VideoRow:
    """The video if it is ready (its size and frame count known); else a 409."""
    if not video.is_ready:
        raise Conflict(f"video {video.id} is {video.status}, not ready: it has no frames yet")
    return video


async def list_videos(
    resources: Resources, user_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[Video]:
    after = decode_cursor(cursor) if cursor else None
    rows = await repo.list_videos(resources.pool, user_id, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more else None
    return Page([row.to_wire() for row in page], next_cursor)


async def _verify_upload(resources: Resources, video: repo.VideoRow, body: UploadComplete) -> str:
    """Assemble a multipart upload, check that the file is there as announced, and return the
    key ingest will read: for a single PUT a copy that no upload URL can overwrite (the URL
    stays valid after this call), for a multipart upload the assembled object itself (its part
    URLs die with the upload)."""
    s3, bucket = resources.s3, resources.settings.s3_bucket
    if video.upload_id is None and body.parts:
        raise _invalid("parts", "this video was uploaded with a single PUT; send {}")
    try:
        if video.upload_id is not None:
            parts = sorted_parts(body.parts)
            try:
                await storage.complete_multipart(
                    s3, bucket, video.source_key, video.upload_id, parts
                )
            except ClientError as exc:
                # NoSuchUpload: an earlier completion of this upload already assembled the object.
                code = storage.error_code(exc)
                if code != "NoSuchUpload":
                    if storage.is_server_error(exc):
                        raise
                    raise _invalid("parts", f"storage refused the parts ({code})") from exc
        stored = await storage.head_object(s3, bucket, video.source_key)
        if stored is None:
            raise Conflict("upload not found: PUT the file to the upload URL first")
        _check_stored(video, stored)
        if video.upload_id is not None:
            return video.source_key
        target = ingested_source_key(video.id)
        if not await storage.copy_if_unchanged(s3, bucket, video.source_key, target, stored.etag):
            raise Conflict("the upload changed while it was being completed; retry")
    except _S3_ERRORS as exc:
        raise ServiceUnavailable("storage is unavailable; try again") from exc
    return target


def _check_stored(video: repo.VideoRow, stored: storage.StoredObject) -> None:
    if stored.size != video.size_bytes:
        raise _invalid(
            "size_bytes", f"the uploaded file has {stored.size} bytes, not {video.size_bytes}"
        )
    if stored.content_type.lower() != video.content_type.lower():
        raise _invalid(
            "content_type",
            f"the file was uploaded as {stored.content_type!r}, not {video.content_type!r}",
        )


async def complete_upload(
    resources: Resources, origin: JobOrigin, body: UploadComplete
) -> tuple[repo.VideoRow, jobs_repo.JobRow]:
    """Check the uploaded file, then start ingest: the video and its queued ``ingest`` job.
    What ingest reads is fixed here: nothing written through the upload URL later changes it."""
    user_id, video_id = origin.user_id, origin.video_id
    video = await get_video(resources, user_id, video_id)
    ingest_key = video.source_key

    async def check() -> None:
        nonlocal ingest_key
        if video.status != "awaiting_upload":
            raise Conflict(f"video {video_id} is {video.status}, not awaiting_upload")
        ingest_key = await _verify_upload(resources, video, body)

    async def prepare(conn: asyncpg.Connection) -> JobSpec[IngestPayload]:
        if await repo.start_ingest(conn, video_id, user_id, ingest_key) is None:
            raise Conflict(f"video {video_id} is no longer awaiting_upload")
        return JobSpec(IngestPayload(video_id))

    # The upload object itself stays (it goes with the video): deleting it here would fail the
    # checks of a concurrent completion still to run, which a repeated request must not see.
    outcome = await submit_job(resources, origin, INGEST, prepare, check=check)
    return await get_video(resources, user_id, video_id), outcome.job


async def delete_video(resources: Resources, user_id: uuid.UUID, video_id: uuid.UUID) -> None:
    """Cancel the video's jobs, delete its stored objects, then the row: a storage failure leaves
    a retryable row. A job still running stops at its next progress check; its worker deletes
    what the job wrote after this sweep once it sees the video gone."""
    video = await get_video(resources, user_id, video_id)
    await _cancel_jobs(resources, video_id)
    s3, bucket = resources.s3, resources.settings.s3_bucket
    prefixes = video_prefixes(video_id)
    try:
        if video.upload_id is not None:
            await storage.abort_multipart(s3, bucket, video.source_key, video.upload_id)
        for prefix in prefixes:
            await storage.delete_prefix(s3, bucket, prefix)
    except _S3_ERRORS as exc:
        log.warning("video_delete_storage_failed", video_id=str(video_id), error=repr(exc))
        raise ServiceUnavailable("storage is unavailable; the video was kept, try again") from exc
    await repo.delete_video(resources.pool, video_id, user_id)
    try:
        # A worker that was writing frames while we deleted may have left a straggler.
        for prefix in prefixes:
            await storage.delete_prefix(s3, bucket, prefix)
    except _S3_ERRORS as exc:
        log.warning("video_delete_sweep_failed", video_id=str(video_id), error=repr(exc))


async def _cancel_jobs(resources: Resources, video_id: uuid.UUID) -> None:
    """Cancel the video's unfinished jobs and tell their listeners (their streams end)."""
    async with resources.pool.acquire() as conn, conn.transaction():
        canceled = await jobs_repo.cancel_video_jobs(conn, video_id)
    for job in canceled:
        try:
            await events.publish_status(resources.redis, job.to_wire())
        except (RedisError, OSError) as exc:  # their streams see it when they re-read the job
            log.warning("job_cancel_publish_failed", job_id=str(job.id), error=repr(exc))
    if canceled:
        log.info("video_jobs_canceled", video_id=str(video_id), jobs=len(canceled))


async def frame_url(
    resources: Resources,
    user_id: uuid.UUID,
    video_id: uuid.UUID,
    frame_index: int,
    *,
    proxy: bool = False,
) -> str:
    """A presigned GET of the frame's JPEG, or of its proxy when ingest made one."""
    video = await get_video(resources, user_id, video_id)
    if not video.is_ready:
        raise Conflict(f"video {video_id} is {video.status}; frames exist once it is ready")
    if not 0 <= frame_index < (video.frame_count or 0):
        raise NotFound(
            f"frame {frame_index} not found: the video has {video.frame_count} frames",
            errors=[
                {"key": "frame_index", "message": f"must be 0..{(video.frame_count or 0) - 1}"}
            ],
        )
    use_proxy = proxy and video.proxy_frames
    key = proxy_frame_key(video_id, frame_index) if use_proxy else frame_key(video_id, frame_index)
    try:
        return await storage.presign_get(
            resources.s3, resources.settings.s3_bucket, key, resources.settings.presign_ttl_s
        )
    except _S3_ERRORS as exc:
        raise ServiceUnavailable("storage is unavailable; try again") from exc
