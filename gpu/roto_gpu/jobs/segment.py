"""The segment job: one object's mask on one frame, from all of its prompts there, through the
frame's embedding (remembered, or encoded) and the mask decoder, stored as COCO RLE.

The mask is stored (S3, the masks row, the Redis hot copy) in the transaction that finishes the
job, under a per-keyframe lock and only while the keyframe's prompts are still those the mask was
made from: a slower job for an earlier click never overwrites the mask of a later one.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg
import structlog
from redis.exceptions import RedisError

from roto.jobs.contracts import SEGMENT, SegmentPayload, SegmentResult
from roto.jobs.repository import JobRow
from roto.masks.repository import upsert_mask
from roto.masks.rle import area as mask_area
from roto.masks.rle import encode as encode_rle
from roto.masks.schemas import FrameMask
from roto.masks.storage import HOT_MASK_TTL_S, encode_mask, hot_mask_key, keyframe_mask_key
from roto.objects.prompts_repository import keyframe_prompts
from roto.worker.contract import JobContext, JobFailed, JobHandler
from roto_gpu.batcher import DeadlineExceeded, Priority, QueueFull
from roto_gpu.engine import Engine
from roto_gpu.jobs import repository as repo
from roto_gpu.jobs.frames import load_frame
from roto_gpu.jobs.keyframes import combine_prompts
from roto_gpu.model.embedding import Embedding, embedding_key
from roto_gpu.model.prompts import MaskPrediction, MaskRequest
from roto_gpu.tracking.requests import KeyframePrompt

log = structlog.get_logger(__name__)


class SegmentJobs:
    """Runs segment jobs on the daemon's engine; remembers which prompts each running job used
    until its outcome is stored."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._used: dict[uuid.UUID, tuple[uuid.UUID, ...]] = {}

    def handler(self) -> JobHandler:
        return JobHandler(run=self.run, on_success=self.on_success, on_failure=self.on_failure)

    async def run(self, ctx: JobContext) -> SegmentResult:
        """Compute the keyframe's mask."""
        job = ctx.payload(SEGMENT)
        engine = self._engine
        started = time.monotonic()
        async with ctx.resources.pool.acquire() as conn:
            video = await repo.get_frame_source(conn, job.video_id)
            rows = await keyframe_prompts(conn, job.video_id, job.object_id, job.frame_index)
        height, width = _check_frame(video, job.frame_index)
        if not rows:
            raise JobFailed("no_prompts", "the object has no prompts on this frame")
        prompt = combine_prompts(rows)
        deadline = started + ctx.settings.segment_deadline_s
        fetched = time.monotonic()
        try:
            embedding, source = await engine.embeddings.get(
                embedding_key(engine.model.model_id, str(job.video_id), job.frame_index),
                lambda: _encode(ctx, engine, job, deadline),
            )
            if embedding.orig_hw != (height, width):
                raise JobFailed(
                    "frame_size_mismatch",
                    f"the stored frame is {embedding.orig_hw[1]}x{embedding.orig_hw[0]}, "
                    f"the video {width}x{height}",
                )
            embedded = time.monotonic()
            prediction = await _decode(engine, embedding, prompt, deadline)
            decoded = time.monotonic()
        except (QueueFull, DeadlineExceeded) as exc:
            if ctx.receives >= ctx.settings.worker_max_receives:
                raise JobFailed(
                    "model_busy", f"the model had no room for this click in time: {exc}"
                ) from exc
            raise  # handed back to the queue: the next delivery tries again after a backoff
        mask = FrameMask(
            object_id=job.object_id,
            frame_index=job.frame_index,
            rle=encode_rle(prediction.mask),
            score=prediction.score,
            source="prompt",
        )
        self._used[ctx.job.id] = tuple(row.id for row in rows)
        log.info(
            "segment_done",
            embedding=source,
            prompts=len(rows),
            score=round(prediction.score, 4),
            rows_ms=_ms(started, fetched),
            embedding_ms=_ms(fetched, embedded),
            decode_ms=_ms(embedded, decoded),
            duration_ms=_ms(started, time.monotonic()),
        )
        return SegmentResult(mask)

    async def on_success(
        self, conn: asyncpg.Connection, row: JobRow, result: dict[str, Any]
    ) -> None:
        """Store the mask in S3, PostgreSQL and Redis, unless newer prompts superseded it."""
        job = SEGMENT.decode_payload(row.payload)
        started = time.monotonic()
        used = self._used.pop(row.id, None)
        mask = SEGMENT.decode_result(result).mask
        await repo.lock_keyframe(conn, job.video_id, job.object_id, job.frame_index)
        current = await keyframe_prompts(conn, job.video_id, job.object_id, job.frame_index)
        if used is None or tuple(r.id for r in current) != used:
            log.info("segment_mask_superseded", prompts_now=len(current))
            return
        resources = self._engine.resources
        key = keyframe_mask_key(job.video_id, job.object_id, job.frame_index)
        data = encode_mask(mask)
        await resources.s3.put_object(
            Bucket=resources.settings.s3_bucket,
            Key=key,
            Body=data,
            ContentType="application/json",
        )
        await upsert_mask(
            conn,
            video_id=job.video_id,
            object_id=job.object_id,
            frame_index=job.frame_index,
            source=mask.source,
            score=mask.score,
            area=mask_area(mask.rle),
            storage_key=key,
            job_id=row.id,
        )
        try:
            await resources.redis.set(
                hot_mask_key(job.video_id, job.object_id, job.frame_index), data, ex=HOT_MASK_TTL_S
            )
        except RedisError as exc:  # the hot copy is a shortcut; S3 and the row are the mask
            log.warning("hot_mask_not_stored", error=repr(exc))
        log.info("segment_mask_stored", store_ms=_ms(started, time.monotonic()))

    async def on_failure(
        self, conn: asyncpg.Connection, row: JobRow, code: str, message: str
    ) -> None:
        """Forget the prompts of a job canceled while it ran: nothing of it is stored."""
        self._used.pop(row.id, None)


def _ms(began: float, ended: float) -> float:
    return round((ended - began) * 1000, 1)


def _check_frame(video: repo.FrameSource | None, frame_index: int) -> tuple[int, int]:
    """The video's (height, width), once it is known to hold the frame."""
    if video is None:
        raise JobFailed("video_not_found", "the video no longer exists")
    if video.status != "ready" or not video.width or not video.height:
        raise JobFailed("video_not_ready", f"the video is {video.status}, not ready")
    if video.frame_count is not None and frame_index >= video.frame_count:
        raise JobFailed(
            "frame_out_of_range",
            f"frame {frame_index} is past the video's last frame ({video.frame_count - 1})",
        )
    return video.height, video.width


async def _encode(
    ctx: JobContext, engine: Engine, job: SegmentPayload, deadline: float
) -> Embedding:
    began = time.monotonic()
    image = await load_frame(
        ctx.resources.s3, ctx.settings.s3_bucket, job.video_id, job.frame_index
    )
    loaded = time.monotonic()
    embedding: Embedding = await engine.batcher.submit(
        "encode", image, priority=Priority.INTERACTIVE, deadline=deadline
    )
    log.info("frame_encoded", frame_ms=_ms(began, loaded), encode_ms=_ms(loaded, time.monotonic()))
    return embedding


async def _decode(
    engine: Engine, embedding: Embedding, prompt: KeyframePrompt, deadline: float
) -> MaskPrediction:
    request = MaskRequest(embedding, prompt.points, prompt.labels, prompt.box)
    try:
        prediction: MaskPrediction = await engine.batcher.submit(
            "decode", request, priority=Priority.INTERACTIVE, deadline=deadline
        )
    except ValueError as exc:  # the model's own checks: a prompt it cannot take
        raise JobFailed("invalid_prompt", f"the prompts cannot be decoded: {exc}") from exc
    return prediction
