"""Videos whose file never came expire: once their upload URLs have long run out, a video still
``awaiting_upload`` is failed (``upload_expired``), its multipart upload aborted and anything
uploaded for it deleted, so neither the row nor half an upload waits forever. The API process
runs ``expire_forever``; any number of them may (each video is taken by one)."""

from __future__ import annotations

import asyncio

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from roto import storage
from roto.resources import Resources
from roto.videos import repository as repo
from roto.videos.storage import video_prefix

log = structlog.get_logger(__name__)

#: After its upload URLs ran out (``presign_ttl_s``), a video waits this long more for its
#: upload-complete (a client finishing its last part) before it expires.
GRACE_S = 3600.0
SWEEP_INTERVAL_S = 60.0
BATCH = 100


def expires_after_s(resources: Resources) -> float:
    return resources.settings.presign_ttl_s + GRACE_S


async def expire_uploads(resources: Resources) -> int:
    """Expire the videos left ``awaiting_upload`` past their time; returns how many."""
    after_s = expires_after_s(resources)
    message = f"no file was uploaded within {after_s:g} s; create the video again"
    expired = await repo.expire_uploads(resources.pool, after_s, message, BATCH)
    s3, bucket = resources.s3, resources.settings.s3_bucket
    for video in expired:
        try:
            if video.upload_id is not None:
                await storage.abort_multipart(s3, bucket, video.source_key, video.upload_id)
            await storage.delete_prefix(s3, bucket, video_prefix(video.id))
        except (ClientError, BotoCoreError, storage.StorageError, OSError) as exc:
            log.warning("expired_upload_not_swept", video_id=str(video.id), error=repr(exc))
    if expired:
        log.info("uploads_expired", videos=len(expired))
    return len(expired)


async def expire_forever(resources: Resources, interval_s: float = SWEEP_INTERVAL_S) -> None:
    """``expire_uploads`` every ``interval_s`` (and at once while batches come back full)."""
    while True:
        try:
            if await expire_uploads(resources) >= BATCH:
                continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be briefly away
            log.warning("upload_expiry_failed", error=repr(exc))
        await asyncio.sleep(interval_s)
