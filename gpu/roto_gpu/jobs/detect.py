"""The detect job: SAM 3's concept detector on one frame; each instance above the threshold
becomes a new object whose keyframe holds the instance's mask as an imported matte.

The instances are found first (the batcher's ``detect`` kind), then object ids are set aside for
them (``detection_object_ids``: a redelivered job finds the same ids), then each keyframe is
decoded by the segment job's own code (``KeyframeComputer``: an imported matte goes through
SAM2's ``add_new_mask`` path) and its state stored under its object. The objects, their prompts,
keyframes and masks are created in the transaction that finishes the job, as the segment job
stores a keyframe; with ``propagate`` the propagate job of the new objects is queued there too.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
import numpy as np
import structlog

from roto.jobs.contracts import DETECT, PROPAGATE, DetectPayload, DetectResult, PropagatePayload
from roto.jobs.outbox import create_job
from roto.jobs.repository import JobRow
from roto.masks import rle
from roto.masks.schemas import FrameMask
from roto.objects import prompts_repository as prompts_repo
from roto.objects import repository as objects_repo
from roto.objects.prompts_repository import PromptRow
from roto.objects.rules import MAX_OBJECTS, default_color, detection_category, numbered_name
from roto.timefmt import utcnow
from roto.worker.contract import JobContext, JobFailed, JobHandler
from roto_gpu import model_spans
from roto_gpu.batcher import DeadlineExceeded, Priority, QueueFull
from roto_gpu.engine import Engine
from roto_gpu.jobs import repository as repo
from roto_gpu.jobs.frames import check_frame, load_frame
from roto_gpu.jobs.keyframe_masks import (
    index_keyframe_mask,
    keyframe_mask_object,
    put_keyframe_mask,
)
from roto_gpu.jobs.keyframes import KeyframeComputer, KeyframeOutcome
from roto_gpu.model.detector import DetectRequest, Instance

log = structlog.get_logger(__name__)


def prompt_id(job_id: uuid.UUID, rank: int) -> uuid.UUID:
    """The id of the prompt that holds the ``rank``-th instance's matte: the same on every run
    of the job, so a redelivered job stores its states under the same keys."""
    return uuid.uuid5(job_id, f"detect:{rank}")


@dataclass(frozen=True)
class Made:
    """One new object as the job computed it, until the transaction that finishes it."""

    prompt: PromptRow
    outcome: KeyframeOutcome
    mask: FrameMask


class DetectJobs:
    """Runs detect jobs on the daemon's engine; remembers what each running job made until its
    outcome is stored."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._made: dict[uuid.UUID, list[Made]] = {}

    def handler(self) -> JobHandler:
        return JobHandler(run=self.run, on_success=self.on_success, on_failure=self.on_failure)

    async def run(self, ctx: JobContext) -> DetectResult:
        """Find the instances and compute each one's keyframe, under object ids set aside."""
        job = ctx.payload(DETECT)
        started = time.monotonic()
        deadline = started + ctx.settings.segment_deadline_s
        async with ctx.resources.pool.acquire() as conn:
            video = await repo.get_frame_source(conn, job.video_id)
        orig_hw, frame_count = check_frame(video, job.frame_index)
        computer = KeyframeComputer(
            self._engine,
            ctx.resources,
            job.video_id,
            frame_count,
            orig_hw,
            Priority.INTERACTIVE,
            deadline=deadline,
            writes_after=ctx.finished,
        )
        instances = await self._detect(ctx, job, deadline)
        detected_ms = round((time.monotonic() - started) * 1000, 1)
        if not instances:
            log.info("detect_done", instances=0, detect_ms=detected_ms)
            return DetectResult(object_ids=[])
        object_ids = await self._reserve(ctx, job, len(instances))
        instances = instances[: len(object_ids)]
        rows = await asyncio.to_thread(_prompts, ctx.job.id, job, object_ids, instances)
        try:
            # One encoder pass for the frame, then the mattes share the decoder's batches.
            await computer.embedding(job.frame_index)
            outcomes = await asyncio.gather(
                *(computer.compute(r.object_id, r.frame_index, [r], None) for r in rows)
            )
        except (QueueFull, DeadlineExceeded) as exc:
            _retry_or_fail(ctx, exc)
            raise
        self._made[ctx.job.id] = [
            Made(row, outcome, _frame_mask(row, outcome))
            for row, outcome in zip(rows, outcomes, strict=True)
        ]
        log.info(
            "detect_done",
            instances=len(instances),
            object_ids=object_ids,
            detect_ms=detected_ms,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return DetectResult(object_ids=object_ids)

    async def _detect(self, ctx: JobContext, job: DetectPayload, deadline: float) -> list[Instance]:
        if self._engine.detector is None:
            raise JobFailed(
                "detector_unavailable",
                "this daemon has no concept detector: set ROTO_DETECTOR_CHECKPOINT",
            )
        image = await load_frame(
            ctx.resources.s3, ctx.settings.s3_bucket, job.video_id, job.frame_index
        )
        request = DetectRequest(image, job.text, tuple(job.boxes), job.threshold, job.max_objects)
        try:
            found: list[Instance] = await model_spans.submit(
                self._engine.batcher,
                "detect",
                request,
                priority=Priority.INTERACTIVE,
                deadline=deadline,
            )
        except (QueueFull, DeadlineExceeded) as exc:
            _retry_or_fail(ctx, exc)
            raise
        except ValueError as exc:  # the detector's own checks
            raise JobFailed("invalid_detection", f"the detector cannot take it: {exc}") from exc
        return found

    async def _reserve(self, ctx: JobContext, job: DetectPayload, count: int) -> list[int]:
        async with ctx.resources.pool.acquire() as conn, conn.transaction():
            ids = await repo.reserve_object_ids(conn, ctx.job.id, job.video_id, count, MAX_OBJECTS)
        if ids is None:
            raise JobFailed("video_not_ready", "the video is gone or no longer ready")
        if not ids:
            raise JobFailed(
                "too_many_objects",
                f"the video already holds {MAX_OBJECTS} objects, the most allowed",
            )
        if len(ids) < count:
            log.warning("detect_capped", found=count, room=len(ids))
        return ids

    async def on_success(
        self, conn: asyncpg.Connection, row: JobRow, result: dict[str, Any]
    ) -> None:
        """Create the objects, their prompts, keyframes and masks (and queue their
        propagation), all in the transaction that finishes the job."""
        job = DETECT.decode_payload(row.payload)
        object_ids = DETECT.decode_result(result).object_ids
        made = self._made.pop(row.id, None)
        if not object_ids:
            return
        if made is None or [m.prompt.object_id for m in made] != object_ids:
            # run() and this hook are one delivery in one process: this cannot happen.
            raise RuntimeError(f"detect job {row.id} finished without what it computed")
        started = time.monotonic()
        category = detection_category(job.text)
        for number, item in enumerate(made, start=1):
            prompt, outcome = item.prompt, item.outcome
            await objects_repo.insert_object(
                conn,
                job.video_id,
                prompt.object_id,
                numbered_name(category, number),
                default_color(prompt.object_id),
                category,
            )
            await prompts_repo.insert_prompt(
                conn,
                video_id=job.video_id,
                object_id=prompt.object_id,
                frame_index=prompt.frame_index,
                points=[],
                labels=[],
                box=None,
                mask=prompt.mask,
                prompt_id=prompt.id,
            )
            if outcome.new_keyframe is not None:
                await prompts_repo.insert_keyframe(conn, outcome.new_keyframe)
            for state_prompt, key in outcome.new_states:
                await prompts_repo.set_state_key(conn, state_prompt, key)
        resources = self._engine.resources
        async with asyncio.TaskGroup() as group:
            for item in made:
                stored = keyframe_mask_object(job.video_id, item.mask)
                group.create_task(put_keyframe_mask(resources, stored))
                await index_keyframe_mask(conn, stored, row.id)
        await repo.release_object_ids(conn, row.id)
        if job.propagate:
            await _queue_propagation(conn, row, job, object_ids)
        log.info(
            "detect_objects_stored",
            objects=len(made),
            propagate=job.propagate,
            store_ms=round((time.monotonic() - started) * 1000, 1),
        )

    async def on_failure(
        self, conn: asyncpg.Connection, row: JobRow, code: str, message: str
    ) -> None:
        """Forget what the job made and give back the ids it set aside."""
        self._made.pop(row.id, None)
        await repo.release_object_ids(conn, row.id)


def _prompts(
    job_id: uuid.UUID, job: DetectPayload, object_ids: list[int], instances: list[Instance]
) -> list[PromptRow]:
    """Each instance as the imported-matte prompt its object's keyframe holds (run in a thread:
    encoding large masks takes a while)."""
    now = utcnow()
    return [
        PromptRow(
            id=prompt_id(job_id, rank),
            video_id=job.video_id,
            object_id=object_id,
            frame_index=job.frame_index,
            points=[],
            labels=[],
            box=None,
            created_at=now,
            mask=msgspec.to_builtins(rle.encode(np.asarray(instance.mask))),
        )
        for rank, (object_id, instance) in enumerate(zip(object_ids, instances, strict=True))
    ]


def _frame_mask(row: PromptRow, outcome: KeyframeOutcome) -> FrameMask:
    return FrameMask(
        object_id=row.object_id,
        frame_index=row.frame_index,
        rle=rle.encode(outcome.mask),
        score=outcome.state.score,
        source="prompt",
    )


async def _queue_propagation(
    conn: asyncpg.Connection, row: JobRow, job: DetectPayload, object_ids: list[int]
) -> None:
    """The propagate job of the new objects, queued (through the outbox) with the objects."""
    payload = PropagatePayload(job.video_id, object_ids, job.frame_start, job.frame_end, "both")
    queued = await create_job(
        conn,
        user_id=row.user_id,
        video_id=job.video_id,
        job_type=PROPAGATE.name,
        payload=PROPAGATE.encode_payload(payload),
        progress_total=job.frame_end - job.frame_start + 1,
        request_id=row.request_id,
    )
    log.info("detect_propagation_queued", propagate_job_id=str(queued.id))


def _retry_or_fail(ctx: JobContext, exc: Exception) -> None:
    """A busy model hands the job back to the queue, until its last receive fails it."""
    if ctx.receives >= ctx.settings.worker_max_receives:
        raise JobFailed(
            "model_busy", f"the model had no room for this detection in time: {exc}"
        ) from exc
