"""The propagate job: the objects' keyframes tracked through a frame range by the streaming
engine, each finished frame stored (in chunks) and pushed to the client as a ``masks`` event.

Only stale spans are computed: a span whose neighbouring keyframes still have the prompts it was
computed from is skipped, so after a correction the job recomputes that span alone, and a job
redelivered after a crash resumes after the last span it finished. The tracker is seeded with the
keyframes' stored states (a state not made yet is made here, by the segment job's own code); the
keyframe masks are the segment job's and are never written here. Beside each chunk of masks go
the frames' track records, so a correction on a tracked frame later sees the memory it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import numpy as np
import structlog

from roto.emf import CountTally
from roto.jobs import events
from roto.jobs.contracts import PROPAGATE, PropagatePayload, PropagateResult
from roto.masks import rle
from roto.masks.schemas import FrameMask, FrameMasks
from roto.objects import prompts_repository as prompts_repo
from roto.objects.prompts_repository import PromptRow
from roto.propagations import repository as repo
from roto.propagations.spans import Piece, Run, needed_frames, plan_runs, span_row, stale_pieces
from roto.worker.contract import JobCanceled, JobContext, JobFailed, JobHandler
from roto_gpu.batcher import Priority
from roto_gpu.engine import Engine
from roto_gpu.jobs import repository as gpu_repo
from roto_gpu.jobs.chunk_sweep import Writer, sweep_orphan_chunks
from roto_gpu.jobs.frames import load_frame
from roto_gpu.jobs.keyframe_sweep import sweep_keyframe_leftovers
from roto_gpu.jobs.keyframes import KeyframeComputer
from roto_gpu.jobs.mask_chunks import ChunkWriter
from roto_gpu.model.prompts import KeyframeState
from roto_gpu.tracking.propagator import FrameLoader, Propagator, choose_anchor, plan_legs
from roto_gpu.tracking.tracker import VideoTracker

log = structlog.get_logger(__name__)

#: Frames the tracker may run ahead of the storing of their masks (RLE, chunk writes, events,
#: progress and the cancel check that comes with it): the model is not kept waiting on storage.
PIPELINE_DEPTH = 3
T = TypeVar("T")


async def ahead(items: AsyncGenerator[T, None], depth: int) -> AsyncGenerator[T, None]:
    """``items``, produced by a task of their own up to ``depth`` ahead of their consumer.
    Closing this generator (or an error on either side) stops and closes the producer."""
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=depth)

    async def produce() -> None:
        try:
            async with contextlib.aclosing(items):
                async for item in items:
                    await queue.put((True, item))
        except Exception as exc:
            await queue.put((False, exc))
            return
        await queue.put((False, None))

    producer = asyncio.create_task(produce(), name="propagation-ahead")
    try:
        while True:
            more, value = await queue.get()
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer


class Keyframe(NamedTuple):
    """One object's keyframe as the tracker is seeded with it: the state after its newest
    prompt, where that is stored, and the keyframe's version (spans are checked against it)."""

    state: KeyframeState
    state_key: str
    version: datetime


def keyframe_versions(rows: list[PromptRow]) -> dict[int, dict[int, datetime]]:
    """object id -> keyframe -> version (the newest version of its prompts)."""
    versions: dict[int, dict[int, datetime]] = {}
    for row in rows:
        frames = versions.setdefault(row.object_id, {})
        version = row.version or row.created_at
        frames[row.frame_index] = max(version, frames.get(row.frame_index, version))
    return versions


@dataclass(frozen=True)
class Plan:
    """What a job computes: the keyframes it seeds from, what each object needs, in runs."""

    keyframes: dict[int, dict[int, Keyframe]]  # object id -> frame -> keyframe
    pieces: dict[int, list[Piece]]  # object id -> what it needs
    runs: list[Run]

    @property
    def total(self) -> int:
        return sum(run.last - run.first + 1 for run in self.runs)


class PropagateJobs:
    """Runs propagate jobs on the daemon's model and batcher."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def handler(self) -> JobHandler:
        return JobHandler(run=self.run)

    async def run(self, ctx: JobContext) -> PropagateResult:
        """Propagate; the result says how many frames were processed and masks written."""
        job = ctx.payload(PROPAGATE)
        started = time.monotonic()
        video = await _check_video(ctx, job)
        plan = await _plan(ctx, self._engine, job, video)
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
        return PropagateResult(frames_processed=work.done, masks_written=work.writer.written)

    async def _propagate(self, work: _Work, run: Run) -> None:
        """Propagate one run, store its masks, then record its spans as fresh."""
        engine = self._engine
        ctx, plan = work.ctx, work.plan
        objects = {o: plan.keyframes[o] for o in run.object_ids}
        # A keyframe just before the run counts: a run starts after the keyframe it follows,
        # and going forward from there is SAM2's both-ways order.
        keyframes = {f for frames in objects.values() for f in frames}
        anchor = choose_anchor(keyframes, max(run.first - 1, 0), run.last)
        needed = {o: needed_frames(plan.pieces[o]) for o in run.object_ids}
        work.writer.runs_keyframes(
            {o: {f: k.state_key for f, k in kf.items()} for o, kf in objects.items()}
        )
        propagator = Propagator(
            VideoTracker(engine.model),
            engine.batcher,
            num_frames=work.video.frame_count,
            orig_hw=work.video.size,
            keyframes={o: {f: k.state for f, k in kf.items()} for o, kf in objects.items()},
            legs=plan_legs(run.first, run.last, work.job.direction, anchor),
            load=_loader(ctx, work.job.video_id, work.video.size),
        )
        stored = CountTally(ctx.resources.metrics, "FramesPropagated")
        async with contextlib.aclosing(ahead(propagator.run(), PIPELINE_DEPTH)) as frames:
            try:
                async for frame, masks in frames:
                    await ctx.check_canceled()
                    wanted = {o: m for o, m in masks.items() if frame in needed[o]}
                    wire = await asyncio.to_thread(_frame_masks, frame, wanted)
                    records = {o: m.record for o, m in wanted.items() if m.record is not None}
                    await work.writer.add(wire, records)
                    await _publish(ctx, FrameMasks(frame, wire))
                    work.done += 1
                    stored.add()
                    await ctx.report_progress(work.done, plan.total)
            finally:
                stored.flush()
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


async def _plan(ctx: JobContext, engine: Engine, job: PropagatePayload, video: _Video) -> Plan:
    """What is stale, from the prompts and spans as they are now, and the keyframes' states to
    seed from (made here where a segment job has not made them yet)."""
    async with ctx.resources.pool.acquire() as conn:
        prompts = await repo.prompts_of(conn, job.video_id, job.object_ids)
        spans = await repo.spans_of(conn, job.video_id, job.object_ids)
    versions = keyframe_versions(prompts)
    if not versions:
        raise JobFailed("no_keyframes", "none of the objects has keyframes any more")
    pieces = {
        object_id: stale_pieces(
            frames,
            [span for span in spans if span.object_id == object_id],
            job.frame_start,
            job.frame_end,
            video.frame_count,
        )
        for object_id, frames in versions.items()
    }
    runs = plan_runs(pieces, {o: list(frames) for o, frames in versions.items()})
    log.info("propagation_planned", runs=[tuple(r) for r in runs])
    needing = {o for run in runs for o in run.object_ids}
    keyframes = await _keyframes(ctx, engine, job, video, prompts, needing)
    return Plan(keyframes, pieces, runs)


async def _keyframes(
    ctx: JobContext,
    engine: Engine,
    job: PropagatePayload,
    video: _Video,
    prompts: list[PromptRow],
    object_ids: set[int],
) -> dict[int, dict[int, Keyframe]]:
    """Each keyframe's state after its newest prompt, for the objects that are propagated."""
    by_frame: dict[tuple[int, int], list[PromptRow]] = {}
    for row in prompts:
        if row.object_id in object_ids:
            by_frame.setdefault((row.object_id, row.frame_index), []).append(row)
    computer = KeyframeComputer(
        engine, ctx.resources, job.video_id, video.frame_count, video.size, Priority.BATCH
    )
    keyframes: dict[int, dict[int, Keyframe]] = {}
    for (object_id, frame), rows in sorted(by_frame.items()):
        newest = rows[-1]
        state = await computer.state(newest.state_key) if newest.state_key else None
        key = newest.state_key
        if state is None:
            state, key = await _make_state(ctx, computer, object_id, frame)
        assert key is not None
        version = max(row.version or row.created_at for row in rows)
        keyframes.setdefault(object_id, {})[frame] = Keyframe(state, key, version)
    return keyframes


async def _make_state(
    ctx: JobContext, computer: KeyframeComputer, object_id: int, frame: int
) -> tuple[KeyframeState, str]:
    """A keyframe whose newest prompt has no state yet (its segment job has not finished):
    decoded here as the segment job decodes it, and recorded the same way."""
    video_id = computer.video_id
    async with ctx.resources.pool.acquire() as conn:
        rows = await prompts_repo.keyframe_prompts(conn, video_id, object_id, frame)
        keyframe = await prompts_repo.get_keyframe(conn, video_id, object_id, frame)
    outcome = await computer.compute(object_id, frame, rows, keyframe)
    async with ctx.resources.pool.acquire() as conn, conn.transaction():
        await gpu_repo.lock_keyframe(conn, video_id, object_id, frame)
        current = await prompts_repo.keyframe_prompts(conn, video_id, object_id, frame)
        if tuple(r.id for r in current) != outcome.used:
            raise JobFailed(
                "keyframes_changed", "a keyframe changed while the propagation started; retry"
            )
        if outcome.new_keyframe is not None:
            await prompts_repo.insert_keyframe(conn, outcome.new_keyframe)
        for prompt_id, key in outcome.new_states:
            await prompts_repo.set_state_key(conn, prompt_id, key)
    log.info("propagation_made_keyframe", object_id=object_id, frame=frame)
    return outcome.state, outcome.new_states[-1][1]


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
    """Delete the chunks that this job and the ones before it superseded, and the keyframe
    states and contexts of prompts and keyframes that are gone; a failure here costs storage,
    never masks, so it does not fail the job."""
    try:
        await sweep_orphan_chunks(
            ctx.resources, job.video_id, job.object_ids, Writer(ctx.job.id, ctx.job.attempts)
        )
    except Exception as exc:
        log.warning("chunk_sweep_failed", error=repr(exc))
    try:
        await sweep_keyframe_leftovers(ctx.resources, job.video_id, job.object_ids, ctx.job.id)
    except Exception as exc:
        log.warning("keyframe_sweep_failed", error=repr(exc))


async def _publish(ctx: JobContext, frame: FrameMasks) -> None:
    try:
        await events.publish(ctx.resources.redis, str(ctx.job.id), "masks", frame)
    except Exception as exc:  # Redis down loses a live event, never the stored masks
        log.warning("masks_publish_failed", error=repr(exc))
