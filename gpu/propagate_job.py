"""The propagate job: the objects' keyframes tracked through a frame range by the streaming
engine, each finished frame stored (in chunks) and pushed to the client as a ``masks`` event.

Only stale spans are computed: a span whose neighbouring keyframes still have the prompts it was
computed from is skipped, so after a correction the job recomputes that span alone, and a job
redelivered after a crash resumes after the last span it finished. Keyframe masks are the segment
job's and are never written here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import numpy as np
import structlog

from gpu import repository as gpu_repo
from gpu.chunk_sweep import Writer, sweep_orphan_chunks
from gpu.frames import load_frame
from gpu.mask_chunks import ChunkWriter
from gpu.propagation import FrameLoader, Propagator, choose_anchor, plan_legs
from gpu.segment import CombinedPrompt, combine_prompts
from gpu.tracker import VideoTracker
from roto.jobs import events
from roto.masks import rle
from roto.masks.schemas import FrameMask
from roto.masks.schemas import FrameMasks as WireFrameMasks
from roto.objects.prompts_repository import PromptRow
from roto.propagations import repository as repo
from roto.propagations.schemas import PropagatePayload
from roto.propagations.spans import Piece, Run, needed_frames, plan_runs, span_row, stale_pieces
from roto.worker.context import JobCanceled, JobContext, JobFailed
from roto.worker.roles import JobHandler

if TYPE_CHECKING:
    from gpu.daemon import GpuDaemon

log = structlog.get_logger(__name__)


class Keyframe(NamedTuple):
    """One object's input on one frame, and when its newest prompt was made."""

    prompt: CombinedPrompt
    version: datetime


@dataclass(frozen=True)
class Plan:
    """What a job computes: the keyframes it seeds from, what each object needs, in runs."""

    keyframes: dict[int, dict[int, Keyframe]]  # object id -> frame -> keyframe
    pieces: dict[int, list[Piece]]  # object id -> what it needs
    runs: list[Run]

    @property
    def total(self) -> int:
        return sum(run.last - run.first + 1 for run in self.runs)


def parse_payload(payload: dict[str, Any]) -> PropagatePayload:
    try:
        return msgspec.convert(payload, PropagatePayload)
    except msgspec.ValidationError as exc:
        raise JobFailed("invalid_job", f"a propagate job's payload is invalid: {exc}") from exc


def group_keyframes(rows: list[PromptRow]) -> dict[int, dict[int, Keyframe]]:
    """Each object's keyframes, their prompts combined as the segment job combines them."""
    by_frame: dict[tuple[int, int], list[PromptRow]] = {}
    for row in rows:
        by_frame.setdefault((row.object_id, row.frame_index), []).append(row)
    keyframes: dict[int, dict[int, Keyframe]] = {}
    for (object_id, frame), frame_rows in sorted(by_frame.items()):
        version = max(row.created_at for row in frame_rows)
        keyframes.setdefault(object_id, {})[frame] = Keyframe(combine_prompts(frame_rows), version)
    return keyframes


class PropagateJobs:
    """Runs propagate jobs on the daemon's model and batcher."""

    def __init__(self, daemon: GpuDaemon) -> None:
        self._daemon = daemon

    def handler(self) -> JobHandler:
        return JobHandler(run=self.run)

    async def run(self, ctx: JobContext) -> dict[str, Any]:
        """Propagate; the result says how many frames were processed and masks written."""
        job = parse_payload(ctx.job.payload)
        started = time.monotonic()
        video = await _check_video(ctx, job)
        plan = await _plan(ctx, job, video.frame_count)
        work = _Work(
            ctx,
            job,
            video,
            plan,
            ChunkWriter(ctx.resources, job.video_id, ctx.job.id, ctx.job.attempts),
        )
        await ctx.report_progress(0, plan.total, force=True)
        try:
            for run in plan.runs:
                await self._propagate(work, run)
        except JobCanceled:
            await work.writer.flush()  # what is done is kept
            raise
        await ctx.report_progress(work.done, plan.total, force=True)
        await _sweep(ctx, job)
        log.info(
            "propagation_done",
            frames=work.done,
            masks=work.writer.written,
            runs=len(plan.runs),
            duration_s=round(time.monotonic() - started, 2),
        )
        return {"frames_processed": work.done, "masks_written": work.writer.written}

    async def _propagate(self, work: _Work, run: Run) -> None:
        """Propagate one run, store its masks, then record its spans as fresh."""
        engine = self._daemon.engine
        ctx, plan = work.ctx, work.plan
        objects = {o: plan.keyframes[o] for o in run.object_ids}
        # A keyframe just before the run counts: a run starts after the keyframe it follows,
        # and going forward from there is SAM2's both-ways order.
        keyframes = {f for frames in objects.values() for f in frames}
        anchor = choose_anchor(keyframes, max(run.first - 1, 0), run.last)
        needed = {o: needed_frames(plan.pieces[o]) for o in run.object_ids}
        propagator = Propagator(
            VideoTracker(engine.model),
            engine.batcher,
            num_frames=work.video.frame_count,
            orig_hw=work.video.size,
            keyframes={o: {f: k.prompt for f, k in kf.items()} for o, kf in objects.items()},
            legs=plan_legs(run.first, run.last, work.job.direction, anchor),
            load=_loader(ctx, work.job.video_id, work.video.size),
        )
        async with contextlib.aclosing(propagator.run()) as frames:
            async for frame, masks in frames:
                await ctx.check_canceled()
                wanted = {o: m for o, m in masks.items() if frame in needed[o]}
                wire = await asyncio.to_thread(_frame_masks, frame, wanted)
                await work.writer.add(wire)
                await _publish(ctx, WireFrameMasks(frame, wire))
                work.done += 1
                await ctx.report_progress(work.done, plan.total)
        await work.writer.flush()
        async with ctx.resources.pool.acquire() as conn, conn.transaction():
            for object_id in run.object_ids:
                versions = {f: k.version for f, k in plan.keyframes[object_id].items()}
                for piece in plan.pieces[object_id]:
                    if run.first <= piece.first and piece.last <= run.last:
                        span = span_row(object_id, piece, versions)
                        await repo.record_span(conn, work.job.video_id, span, ctx.job.id)


class _Video(NamedTuple):
    size: tuple[int, int]  # height, width
    frame_count: int


@dataclass
class _Work:
    """One run of one propagate job."""

    ctx: JobContext
    job: PropagatePayload
    video: _Video
    plan: Plan
    writer: ChunkWriter
    done: int = 0


async def _check_video(ctx: JobContext, job: PropagatePayload) -> _Video:
    async with ctx.resources.pool.acquire() as conn:
        video = await gpu_repo.get_frame_source(conn, job.video_id)
    if video is None:
        raise JobFailed("video_not_found", "the video no longer exists")
    if video.status != "ready" or not video.width or not video.height or not video.frame_count:
        raise JobFailed("video_not_ready", f"the video is {video.status}, not ready")
    if not 0 <= job.frame_start <= job.frame_end < video.frame_count:
        raise JobFailed(
            "frame_out_of_range",
            f"frames {job.frame_start}..{job.frame_end} are not all in the video "
            f"(0..{video.frame_count - 1})",
        )
    return _Video((video.height, video.width), video.frame_count)


async def _plan(ctx: JobContext, job: PropagatePayload, frame_count: int) -> Plan:
    """What is stale, from the prompts and spans as they are now."""
    async with ctx.resources.pool.acquire() as conn:
        prompts = await repo.prompts_of(conn, job.video_id, job.object_ids)
        spans = await repo.spans_of(conn, job.video_id, job.object_ids)
    keyframes = group_keyframes(prompts)
    if not keyframes:
        raise JobFailed("no_keyframes", "none of the objects has keyframes any more")
    pieces = {
        object_id: stale_pieces(
            {frame: k.version for frame, k in frames.items()},
            [span for span in spans if span.object_id == object_id],
            job.frame_start,
            job.frame_end,
            frame_count,
        )
        for object_id, frames in keyframes.items()
    }
    runs = plan_runs(pieces, {o: list(frames) for o, frames in keyframes.items()})
    log.info("propagation_planned", runs=[tuple(r) for r in runs])
    return Plan(keyframes, pieces, runs)


def _loader(ctx: JobContext, video_id: uuid.UUID, orig_hw: tuple[int, int]) -> FrameLoader:
    s3, bucket = ctx.resources.s3, ctx.settings.s3_bucket

    async def load(frame_index: int) -> np.ndarray:
        image = await load_frame(s3, bucket, video_id, frame_index)
        if image.shape[:2] != orig_hw:
            raise JobFailed(
                "frame_size_mismatch",
                f"stored frame {frame_index} is {image.shape[1]}x{image.shape[0]}, "
                f"the video {orig_hw[1]}x{orig_hw[0]}",
            )
        return image

    return load


def _frame_masks(frame_index: int, masks: Mapping[int, Any]) -> list[FrameMask]:
    """One frame's masks as COCO RLE (run in a thread: encoding a large mask takes a while)."""
    return [
        FrameMask(
            object_id=object_id,
            frame_index=frame_index,
            rle=rle.encode(mask.mask),
            score=float(mask.score),
            source="propagation",
        )
        for object_id, mask in sorted(masks.items())
    ]


async def _sweep(ctx: JobContext, job: PropagatePayload) -> None:
    """Delete the chunks that this job and the ones before it superseded; a failure here costs
    storage, never masks, so it does not fail the job."""
    try:
        await sweep_orphan_chunks(
            ctx.resources, job.video_id, job.object_ids, Writer(ctx.job.id, ctx.job.attempts)
        )
    except Exception as exc:
        log.warning("chunk_sweep_failed", error=repr(exc))


async def _publish(ctx: JobContext, frame: WireFrameMasks) -> None:
    try:
        await events.publish(ctx.resources.redis, str(ctx.job.id), "masks", frame)
    except Exception as exc:  # Redis down loses a live event, never the stored masks
        log.warning("masks_publish_failed", error=repr(exc))


def propagate_handler(daemon: GpuDaemon) -> JobHandler:
    """The ``propagate`` job handler of the gpu role."""
    return PropagateJobs(daemon).handler()
