"""Download links of finished exports. A link is presigned when the job finishes and presigned
again whenever the job is read after it has expired (or is about to), so an archive stays
downloadable for as long as it is stored, not just for the first link's lifetime."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec

from roto.exports.archive import presign_download
from roto.exports.plan import archive_key
from roto.jobs.contracts import EXPORT, ExportResult
from roto.jobs.repository import JobRow
from roto.resources import Resources
from roto.storage import object_size
from roto.timefmt import rfc3339, utcnow
from roto.videos.storage import video_prefix

#: A link with less than this left is replaced: a client needs time to start the download.
REFRESH_MARGIN = timedelta(minutes=5)


async def issue(resources: Resources, key: str, filename: str, size_bytes: int) -> ExportResult:
    """The job result for the archive at ``key``: a fresh link and when it expires."""
    ttl = resources.settings.presign_ttl_s
    s3, bucket = resources.s3, resources.settings.s3_bucket
    return ExportResult(
        download_url=await presign_download(s3, bucket, key, filename, ttl),
        expires_at=rfc3339(utcnow() + timedelta(seconds=ttl)) or "",
        filename=filename,
        size_bytes=size_bytes,
    )


def is_stale(result: ExportResult, now: datetime) -> bool:
    expires = datetime.fromisoformat(result.expires_at.replace("Z", "+00:00"))
    return expires - now < REFRESH_MARGIN


async def current_result(resources: Resources, job: JobRow) -> dict[str, Any] | None:
    """The job's result with a link that still works (a new one if it had run out)."""
    if job.type != "export" or job.status != "succeeded" or job.video_id is None:
        return job.result
    try:
        stored = EXPORT.decode_result(job.result or {})
        stale = is_stale(stored, utcnow())
    except (msgspec.ValidationError, ValueError):
        return job.result
    if not stale:
        return job.result
    key = archive_key(job.video_id, job.id, stored.filename)
    bucket = resources.settings.s3_bucket
    if await object_size(resources.s3, bucket, key) is None:
        # Archives written before they moved to exports/<video>/ stay where they were.
        legacy = f"{video_prefix(job.video_id)}exports/{job.id}/{stored.filename}"
        if await object_size(resources.s3, bucket, legacy) is not None:
            key = legacy
    renewed = await issue(resources, key, stored.filename, stored.size_bytes)
    return EXPORT.encode_result(renewed)
