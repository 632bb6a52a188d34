"""The prompt use case: check a click against its frame, store it as a keyframe input, start the
``segment`` job, and wait a bounded time for the mask."""

from __future__ import annotations

import math

import asyncpg
import msgspec
import structlog

from roto.billing import service as billing
from roto.errors import BadRequest, Unprocessable
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import SEGMENT, SegmentPayload
from roto.jobs.submit import JobOrigin, JobSpec, submit_job
from roto.jobs.watch import JobWatch
from roto.masks.schemas import FrameMask
from roto.objects import prompts_repository as prompts_repo
from roto.objects import repository as repo
from roto.objects.schemas import Prompt
from roto.objects.service import MAX_OBJECT_ID
from roto.resources import Resources
from roto.videos.service import get_video, ready_video

log = structlog.get_logger(__name__)

MAX_WAIT_S = 30.0
DEFAULT_WAIT_S = 10.0
#: While a prompt waits, its job is read again this often (the terminal event usually comes
#: first), and this often while Redis is away.
WAIT_RESYNC_S = 1.0
WAIT_POLL_S = 0.2
#: Clicks in one prompt; SAM2 gains nothing from more, and it bounds the stored rows.
MAX_POINTS = 64


def check_wait(wait_s: float) -> float:
    """``wait`` if it is 0..30 seconds; else a 400 naming ``wait``."""
    if not math.isfinite(wait_s) or not 0 <= wait_s <= MAX_WAIT_S:
        message = f"must be between 0 and {MAX_WAIT_S:g} seconds"
        raise BadRequest(
            f"wait: {message}", errors=[{"key": "wait", "message": message, "source": "query"}]
        )
    return wait_s


def _inside(value: float, limit: int) -> bool:
    return 0 <= value < limit


def prompt_problems(prompt: Prompt, width: int, height: int, frame_count: int) -> dict[str, str]:
    """What is wrong with ``prompt`` on a ``width`` x ``height`` video of ``frame_count`` frames,
    by field name; empty when nothing is."""
    problems: dict[str, str] = {}
    if not 0 < prompt.object_id <= MAX_OBJECT_ID:
        problems["object_id"] = f"no object {prompt.object_id} in this video"
    if not 0 <= prompt.frame_index < frame_count:
        problems["frame_index"] = f"must be 0..{frame_count - 1} (the video has {frame_count})"
    points, labels, box = prompt.points, prompt.labels, prompt.box
    if not points and box is None:
        problems["points"] = "a prompt needs at least one point or a box"
    if len(points) > MAX_POINTS:
        problems["points"] = f"at most {MAX_POINTS} points, got {len(points)}"
    if len(labels) != len(points):
        problems["labels"] = (
            f"needs one label per point: {len(points)} points, {len(labels)} labels"
        )
    for i, (x, y) in enumerate(points[:MAX_POINTS]):
        if not (_inside(x, width) and _inside(y, height)):
            problems[f"points[{i}]"] = (
                f"({x:g}, {y:g}) is outside the {width}x{height} frame "
                f"(x in [0, {width}), y in [0, {height}))"
            )
    if box is not None:
        x0, y0, x1, y1 = box
        if not (x0 < x1 and y0 < y1):
            problems["box"] = "must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1"
        elif not (x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height):
            problems["box"] = f"must lie inside the {width}x{height} frame"
    return problems


def check_prompt(prompt: Prompt, width: int, height: int, frame_count: int) -> None:
    """A 422 listing every problem of the prompt, each naming its field."""
    problems = prompt_problems(prompt, width, height, frame_count)
    if problems:
        raise Unprocessable(
            "; ".join(f"{key}: {message}" for key, message in problems.items()),
            errors=[{"key": key, "message": message} for key, message in problems.items()],
        )


def unknown_object(object_id: int) -> Unprocessable:
    message = f"no object {object_id} in this video"
    return Unprocessable(f"object_id: {message}", errors=[{"key": "object_id", "message": message}])


def job_mask(job: jobs_repo.JobRow) -> FrameMask | None:
    """The mask in a succeeded segment job's result, if there is a well-formed one."""
    if job.status != "succeeded" or not job.result:
        return None
    try:
        return SEGMENT.decode_result(job.result).mask
    except msgspec.ValidationError as exc:
        log.warning("segment_result_without_mask", job_id=str(job.id), error=str(exc))
        return None


async def submit_prompt(
    resources: Resources, origin: JobOrigin, prompt: Prompt, *, wait_s: float
) -> tuple[jobs_repo.JobRow, FrameMask | None]:
    """Store the prompt and start its segment job; then wait up to ``wait_s`` for the mask.

    A repeated Idempotency-Key answers the first job, waiting for it the same way.
    """
    check_wait(wait_s)
    user_id, video_id = origin.user_id, origin.video_id
    video = await get_video(resources, user_id, video_id)
    async with JobWatch(resources, resync_s=WAIT_RESYNC_S, poll_s=WAIT_POLL_S) as watch:

        async def check() -> None:
            ready_video(video)
            check_prompt(prompt, video.width or 0, video.height or 0, video.frame_count or 0)

        async def prepare(conn: asyncpg.Connection) -> JobSpec[SegmentPayload]:
            await billing.check_quota(conn, user_id, 1)
            if await repo.lock_object_for_prompt(conn, video_id, prompt.object_id) is None:
                raise unknown_object(prompt.object_id)
            if prompt.mode == "replace":
                await prompts_repo.delete_frame_prompts(
                    conn, video_id, prompt.object_id, prompt.frame_index
                )
            await prompts_repo.insert_prompt(
                conn,
                video_id=video_id,
                object_id=prompt.object_id,
                frame_index=prompt.frame_index,
                points=[[x, y] for x, y in prompt.points],
                labels=list(prompt.labels),
                box=list(prompt.box) if prompt.box is not None else None,
            )
            payload = SegmentPayload(video_id, prompt.object_id, prompt.frame_index)
            return JobSpec(payload, progress_total=1)

        async def on_queued(conn: asyncpg.Connection, job: jobs_repo.JobRow) -> None:
            if wait_s > 0:
                # Before the commit: no worker can see the job yet, so no event is missed.
                await watch.subscribe(job.id)

        outcome = await submit_job(
            resources, origin, SEGMENT, prepare, check=check, on_queued=on_queued
        )
        job = await watch.wait(outcome.job, wait_s)
    return job, job_mask(job)
