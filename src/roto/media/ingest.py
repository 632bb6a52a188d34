"""The ingest job: download the upload, probe and validate it, extract every frame to S3, then
mark the video ready (or failed with a reason) in the transaction that finishes the job."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import structlog

from roto.jobs.contracts import INGEST, IngestResult
from roto.jobs.repository import JobRow
from roto.media import probe
from roto.media import repository as repo
from roto.media.decoding import FrameGuard, upright_size
from roto.media.frame_pts import encode_pts
from roto.media.frames import FrameExtractor
from roto.storage import delete_prefix, object_size
from roto.videos.storage import frame_pts_key, video_prefix
from roto.worker.contract import JobCanceled, JobContext, JobFailed, JobHandler

log = structlog.get_logger(__name__)

DOWNLOAD_CHUNK_BYTES = 1024**2


async def download(s3: Any, bucket: str, key: str, path: Path, max_bytes: int) -> int:
    """Stream ``key`` to ``path`` chunk by chunk; returns its size. Refuses an oversized file
    before (and, should it grow, while) downloading it."""
    size = await object_size(s3, bucket, key)
    if size is None:
        raise JobFailed("source_missing", "the uploaded file is not in storage")
    probe.check_size(size, max_bytes)
    response = await s3.get_object(Bucket=bucket, Key=key)
    written = 0
    out = await asyncio.to_thread(path.open, "wb")
    try:
        body = response["Body"]
        # Entering the body yields the raw HTTP response; the body itself does the chunking.
        async with body:
            async for chunk in body.iter_chunks(DOWNLOAD_CHUNK_BYTES):
                written += len(chunk)
                probe.check_size(written, max_bytes)
                await asyncio.to_thread(out.write, chunk)
    finally:
        await asyncio.to_thread(out.close)
    return written


async def run_ingest(ctx: JobContext) -> IngestResult:
    """Ingest the job's video; returns the video's metadata as the job's result."""
    video_id = ctx.payload(INGEST).video_id
    async with ctx.resources.pool.acquire() as conn:
        video = await repo.get_source(conn, video_id)
    if video is None:
        raise JobFailed("video_not_found", "the video no longer exists")
    settings = ctx.settings
    with tempfile.TemporaryDirectory(prefix="roto-ingest-") as folder:
        path = Path(folder) / "source"
        size = await download(
            ctx.resources.s3, settings.s3_bucket, video.source_key, path, settings.max_upload_bytes
        )
        max_pixels = settings.max_width * settings.max_height
        info = await asyncio.to_thread(probe.probe_file, path, max_pixels)
        probe.check_limits(info, size, settings)
        log.info(
            "ingest_probed",
            size_bytes=size,
            width=info.width,
            height=info.height,
            fps=info.fps,
            codec=info.codec,
            frame_estimate=info.frame_estimate,
            timecode=info.timecode,
        )
        try:
            extracted = await _extract(ctx, video_id, path, info)
        except (JobFailed, JobCanceled):
            # A video that will never be ready keeps no frames.
            for prefix in frames_prefixes(video_id):
                await delete_prefix(ctx.resources.s3, settings.s3_bucket, prefix)
            raise
    frame_count = extracted.frame_count
    # The decoded count replaces the container's estimate as the total.
    await ctx.report_progress(frame_count, frame_count, force=True)
    return IngestResult(
        # The stored frames' size: upright, as decoded (the header's size is not trusted).
        width=extracted.width,
        height=extracted.height,
        fps=info.fps,
        frame_count=frame_count,
        duration_s=frame_count / info.fps,
        codec=info.codec,
        frame_rate=f"{info.rate.numerator}/{info.rate.denominator}",
        timecode=info.timecode,
        proxy_frames=extracted.proxy_frames,
    )


class Extracted(msgspec.Struct, frozen=True):
    frame_count: int
    width: int
    height: int
    proxy_frames: bool


async def _extract(
    ctx: JobContext, video_id: uuid.UUID, path: Path, info: probe.ProbeInfo
) -> Extracted:
    """Upload every frame and check that the file decoded whole within the limits."""
    total = info.frame_estimate
    settings = ctx.settings

    async def on_progress(done: int) -> None:
        await ctx.report_progress(done, max(total, done))

    await ctx.report_progress(0, total, force=True)
    guard = FrameGuard(settings.max_width, settings.max_height)
    extractor = FrameExtractor(
        ctx.resources.s3,
        settings.s3_bucket,
        video_id,
        quality=settings.frame_jpeg_quality,
        proxy_quality=settings.proxy_jpeg_quality,
        guard=guard,
        max_frames=settings.max_frame_count,
    )
    frame_count = await extractor.run(path, on_progress)
    probe.check_complete(frame_count, info)
    probe.check_duration(frame_count / info.fps, settings.max_duration_s)
    probe.check_frame_rate(measured_rate(frame_count, extractor.pts, info), settings.max_frame_rate)
    if extractor.pts is not None:
        await ctx.resources.s3.put_object(
            Bucket=settings.s3_bucket,
            Key=frame_pts_key(video_id),
            Body=encode_pts(extractor.pts),
            ContentType="application/octet-stream",
        )
    assert guard.first is not None  # check_complete refused a video without frames
    width, height = upright_size(*guard.first)
    return Extracted(frame_count, width, height, extractor.proxy_size is not None)


def measured_rate(frame_count: int, pts: list[int] | None, info: probe.ProbeInfo) -> float:
    """Frames per second as decoded: over the timestamps' span when every frame had one, else
    over the container's duration; the header's rate when neither is known. A header can claim
    30 fps over a stream that packs 1,000 frames into each second."""
    if pts is not None and len(pts) > 1 and info.time_base:
        span_s = float((pts[-1] - pts[0]) * info.time_base)
        if span_s > 0:
            return (len(pts) - 1) / span_s
    if info.duration_s:
        return frame_count / info.duration_s
    return info.fps


def frames_prefixes(video_id: uuid.UUID) -> tuple[str, ...]:
    """Where ingest writes the frames and their proxies."""
    return (f"{video_prefix(video_id)}frames/", f"{video_prefix(video_id)}proxy/")


async def store_ready(conn: asyncpg.Connection, job: JobRow, result: dict[str, Any]) -> None:
    """Mark the video ready, in the transaction that marks the job succeeded."""
    if job.video_id is None:
        return
    if not await repo.mark_ready(conn, job.video_id, INGEST.decode_result(result)):
        log.warning("ingest_video_not_ingesting", video_id=str(job.video_id))


async def store_failed(conn: asyncpg.Connection, job: JobRow, code: str, message: str) -> None:
    """Mark the video failed with the job's reason, in the transaction that fails the job."""
    if job.video_id is not None:
        await repo.mark_failed(conn, job.video_id, code, message)


INGEST_HANDLER = JobHandler(run=run_ingest, on_success=store_ready, on_failure=store_failed)
