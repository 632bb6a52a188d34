"""The segment job: one object's keyframe on one frame, decoded from its prompts as SAM2's video
predictor decodes them (``roto_gpu.jobs.keyframes``), stored as COCO RLE.

What the job makes is stored in the transaction that finishes it, under a per-keyframe lock and
only while the keyframe's prompts are still those it was made from: a slower job for an earlier
click never overwrites the mask of a later one. The prompts' states and the keyframe's context
(already in S3) are recorded there too; the mask goes to S3 and its Redis copy while the masks row
is written (``roto_gpu.jobs.keyframe_masks``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import structlog

from roto.jobs.contracts import SEGMENT, SegmentResult
from roto.jobs.repository import JobRow
from roto.masks.rle import encode as encode_rle
from roto.masks.schemas import FrameMask
from roto.objects import prompts_repository as prompts_repo
from roto.worker.contract import JobContext, JobFailed, JobHandler
from roto_gpu.batcher import DeadlineExceeded, Priority, QueueFull
from roto_gpu.engine import Engine
from roto_gpu.jobs import repository as repo
from roto_gpu.jobs.frames import check_frame
from roto_gpu.jobs.keyframe_masks import (
    index_keyframe_mask,
    keyframe_mask_object,
    put_keyframe_mask,
)
from roto_gpu.jobs.keyframes import KeyframeComputer, KeyframeOutcome

log = structlog.get_logger(__name__)


class SegmentJobs:
    """Runs segment jobs on the daemon's engine; remembers what each running job made until its
    outcome is stored."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._made: dict[uuid.UUID, KeyframeOutcome] = {}

    def handler(self) -> JobHandler:
        return JobHandler(run=self.run, on_success=self.on_success, on_failure=self.on_failure)

    async def run(self, ctx: JobContext) -> SegmentResult:
        """Compute the keyframe's state and mask."""
        job = ctx.payload(SEGMENT)
        started = time.monotonic()
        async with ctx.resources.pool.acquire() as conn:
            video = await repo.get_frame_source(conn, job.video_id)
            rows = await prompts_repo.keyframe_prompts(
                conn, job.video_id, job.object_id, job.frame_index
            )
            keyframe = await prompts_repo.get_keyframe(
                conn, job.video_id, job.object_id, job.frame_index
            )
        orig_hw, frame_count = check_frame(video, job.frame_index)
        computer = KeyframeComputer(
            self._engine,
            ctx.resources,
            job.video_id,
            frame_count,
            orig_hw,
            Priority.INTERACTIVE,
            deadline=started + ctx.settings.segment_deadline_s,
            writes_after=ctx.finished,
        )
        try:
            outcome = await computer.compute(job.object_id, job.frame_index, rows, keyframe)
        except (QueueFull, DeadlineExceeded) as exc:
            if ctx.receives >= ctx.settings.worker_max_receives:
                raise JobFailed(
                    "model_busy", f"the model had no room for this click in time: {exc}"
                ) from exc
            raise  # handed back to the queue: the next delivery tries again after a backoff
        except ValueError as exc:  # the model's own checks: a prompt it cannot take
            raise JobFailed("invalid_prompt", f"the prompts cannot be decoded: {exc}") from exc
        mask = FrameMask(
            object_id=job.object_id,
            frame_index=job.frame_index,
            rle=encode_rle(outcome.mask),
            score=outcome.state.score,
            source="prompt",
        )
        self._made[ctx.job.id] = outcome
        log.info(
            "segment_done",
            prompts=len(rows),
            decoded=outcome.decoded,
            memory="tracked" if _has_memory(outcome, keyframe) else "none",
            score=round(outcome.state.score, 4),
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            **outcome.timings,
        )
        return SegmentResult(mask)

    async def on_success(
        self, conn: asyncpg.Connection, row: JobRow, result: dict[str, Any]
    ) -> None:
        """Record the prompts' states and the keyframe's context, and store the mask in S3,
        PostgreSQL and Redis, unless newer prompts superseded them."""
        job = SEGMENT.decode_payload(row.payload)
        started = time.monotonic()
        made = self._made.pop(row.id, None)
        mask = SEGMENT.decode_result(result).mask
        await repo.lock_keyframe(conn, job.video_id, job.object_id, job.frame_index)
        current = await prompts_repo.keyframe_prompts(
            conn, job.video_id, job.object_id, job.frame_index
        )
        if made is None or tuple(r.id for r in current) != made.used:
            log.info("segment_mask_superseded", prompts_now=len(current))
            return
        stored = keyframe_mask_object(job.video_id, mask)
        async with asyncio.TaskGroup() as group:
            # The mask's S3 write runs while this connection records the keyframe, the states
            # and the mask's row; the transaction commits only once it is written.
            group.create_task(put_keyframe_mask(self._engine.resources, stored))
            if made.new_keyframe is not None:
                await prompts_repo.insert_keyframe(conn, made.new_keyframe)
            for prompt_id, key in made.new_states:
                await prompts_repo.set_state_key(conn, prompt_id, key)
            await index_keyframe_mask(conn, stored, row.id)
        log.info("segment_mask_stored", store_ms=round((time.monotonic() - started) * 1000, 1))

    async def on_failure(
        self, conn: asyncpg.Connection, row: JobRow, code: str, message: str
    ) -> None:
        """Forget what a job canceled while it ran made: none of it is recorded."""
        self._made.pop(row.id, None)


def _has_memory(outcome: KeyframeOutcome, keyframe: prompts_repo.KeyframeRow | None) -> bool:
    row = outcome.new_keyframe or keyframe
    return row is not None and row.context_key is not None
