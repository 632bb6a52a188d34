"""The export job (media role): plan from the payload, then the blocking pipeline on a thread,
streaming the zip into an S3 multipart upload; the result is a presigned download URL. On any
failure or cancel the multipart upload is aborted, so nothing half-written is left."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
from fractions import Fraction
from pathlib import Path

import structlog

from roto.exports import download
from roto.exports import repository as repo
from roto.exports.archive import MultipartSink, start_upload
from roto.exports.bridge import LoopBridge
from roto.exports.formats import WRITERS
from roto.exports.maskstream import MaskStream
from roto.exports.pipeline import write_archive
from roto.exports.plan import ExportPlan, label_objects, video_stem
from roto.exports.schemas import DEEP_FORMATS, Dataset
from roto.exports.source import S3RangeFile, SourceVideo, source_size
from roto.exports.stored_frames import StoredFrames
from roto.jobs.contracts import EXPORT, ExportResult
from roto.mattes.schemas import Matte
from roto.media.frame_pts import load_frame_pts
from roto.storage import abort_multipart, complete_multipart
from roto.worker.contract import JobCanceled, JobContext, JobFailed, JobHandler

log = structlog.get_logger(__name__)


async def load_plan(ctx: JobContext) -> tuple[ExportPlan, repo.ExportVideo]:
    """The plan of the job's payload, and its video; a failed job when either is gone."""
    payload = ctx.payload(EXPORT)
    async with ctx.resources.pool.acquire() as conn:
        video = await repo.get_video(conn, payload.video_id)
        objects = await repo.get_objects(conn, payload.video_id, payload.object_ids)
    if video is None:
        raise JobFailed("video_not_found", "the video no longer exists")
    if video.status != "ready" or not video.width or not video.height:
        raise JobFailed("video_not_ready", f"the video is {video.status}, not ready")
    gone = sorted(set(payload.object_ids) - {o.object_id for o in objects})
    if gone:
        listed = ", ".join(map(str, gone))
        raise JobFailed("object_deleted", f"object {listed} was deleted after the export started")
    plan = ExportPlan(
        job_id=ctx.job.id,
        video_id=video.id,
        format=payload.format,
        video=video_stem(video.filename),
        width=video.width,
        height=video.height,
        frame_start=payload.frame_start,
        frame_end=payload.frame_end,
        start_number=payload.start_number,
        bit_depth=payload.bit_depth or 8,
        objects=label_objects(
            [(o.object_id, o.name, o.color) for o in objects], [o.category for o in objects]
        ),
        rate=stored_rate(video),
        frame_count=video.frame_count or payload.frame_end + 1,
        timecode=video.timecode,
        matte=payload.matte or Matte(),
        dataset=payload.dataset or Dataset(),
    )
    return plan, video


def stored_rate(video: repo.ExportVideo) -> Fraction | None:
    """The frame rate ingest read (exact), or the rounded one of videos ingested before."""
    if video.frame_rate:
        return Fraction(video.frame_rate)
    return None if video.fps is None else Fraction(video.fps).limit_denominator(1001)


async def run_export(ctx: JobContext) -> ExportResult:
    """Write the export's archive to S3; returns its download as the job's result."""
    plan, video = await load_plan(ctx)
    resources, settings = ctx.resources, ctx.settings
    s3, bucket = resources.s3, settings.s3_bucket
    bridge = LoopBridge(asyncio.get_running_loop())
    total = plan.frame_total
    await ctx.report_progress(0, total, force=True)
    key = plan.archive_key
    upload_id = await start_upload(s3, bucket, key)
    sink = MultipartSink(bridge, s3, bucket, key, upload_id)

    def on_progress(done: int) -> None:
        bridge.call(ctx.report_progress(done, total))

    try:
        source = None
        if WRITERS[plan.format].needs_source:
            size = await source_size(s3, bucket, video.source_key)
            reader = S3RangeFile(bridge, s3, bucket, video.source_key, size)
            # Opening reads the container's header through the bridge: not on the loop's thread.
            frame_pts = await load_frame_pts(s3, bucket, plan.video_id)
            source = await asyncio.to_thread(
                SourceVideo,
                reader,
                frame_pts,
                size=(plan.width, plan.height),
                limits=(settings.max_width, settings.max_height),
                deep=WRITERS[plan.format].keeps_deep_source,
            )
            plan = dataclasses.replace(plan, rate=source.rate, source_bits=source.bits)
            if payload_bit_depth(ctx) is None and source.deep and plan.format in DEEP_FORMATS:
                plan = dataclasses.replace(plan, bit_depth=16)
        object_ids = [o.object_id for o in plan.objects]
        masks = MaskStream(bridge, resources, plan.video_id, object_ids, plan.height, plan.width)

        def stored(indices: list[int]) -> StoredFrames:
            return StoredFrames(bridge, s3, bucket, plan.video_id, indices)

        with tempfile.TemporaryDirectory(prefix="roto-export-", ignore_cleanup_errors=True) as work:
            parts = await asyncio.to_thread(
                write_archive, plan, masks, source, sink, on_progress, Path(work), stored
            )
        await complete_multipart(s3, bucket, key, upload_id, parts)
    except BaseException:
        # The thread stops at its next call into the loop; the parts sent so far are dropped.
        bridge.close()
        with contextlib.suppress(Exception):
            await abort_multipart(s3, bucket, key, upload_id)
        raise
    try:
        await ctx.report_progress(total, total, force=True)
    except JobCanceled:
        # Canceled while the last part went up: the finished archive goes too.
        await s3.delete_object(Bucket=bucket, Key=key)
        raise
    log.info(
        "export_written",
        key=key,
        size_bytes=sink.size,
        parts=len(parts),
        source_frames_decoded=source.decoded if source else 0,
    )
    return await download.issue(resources, key, plan.archive_name, sink.size)


def payload_bit_depth(ctx: JobContext) -> int | None:
    return ctx.payload(EXPORT).bit_depth


EXPORT_HANDLER = JobHandler(run=run_export)
