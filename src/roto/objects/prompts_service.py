"""The prompt use cases: a click (or box, or imported matte) checked against its frame and stored
as a keyframe input, the keyframe's ``segment`` job started and waited for a bounded time; the
prompt history listed; a prompt or a whole keyframe deleted (the undo)."""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Iterator

import asyncpg
import msgspec
import structlog
from botocore.exceptions import BotoCoreError, ClientError
from redis.exceptions import RedisError

from roto.billing import service as billing
from roto.errors import BadRequest, Conflict, NotFound, Unprocessable
from roto.jobs import lane
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import SEGMENT, SegmentPayload
from roto.jobs.outbox import create_job
from roto.jobs.submit import JobOrigin, JobSpec, submit_job
from roto.jobs.watch import JobWatch
from roto.masks import repository as masks_repo
from roto.masks import rle
from roto.masks import storage as mask_storage
from roto.masks.schemas import FrameMask
from roto.objects import prompts_repository as prompts_repo
from roto.objects import repository as repo
from roto.objects.schemas import Prompt, PromptRecord
from roto.objects.service import MAX_OBJECT_ID
from roto.pagination import Page, decode_cursor, encode_cursor
from roto.resources import Resources
from roto.videos.service import get_video, ready_video

log = structlog.get_logger(__name__)

MAX_WAIT_S = 30.0
DEFAULT_WAIT_S = 10.0
#: While a prompt waits, its job is read again this often (the terminal event usually comes
#: first), and this often while Redis is away.
WAIT_RESYNC_S = 1.0
WAIT_POLL_S = 0.2
#: Clicks on one keyframe, over all its prompts: SAM2 gains nothing from more, and it bounds the
#: stored rows and the decoder's input.
MAX_POINTS = 64


def check_wait(wait_s: float) -> float:
    """``wait`` if it is 0..30 seconds; else a 400 naming ``wait``."""
    if not math.isfinite(wait_s) or not 0 <= wait_s <= MAX_WAIT_S:
        message = f"must be between 0 and {MAX_WAIT_S:g} seconds"
        raise BadRequest(
            f"wait: {message}", errors=[{"key": "wait", "message": message, "source": "query"}]
        )
    return wait_s


@contextlib.contextmanager
def waiting(resources: Resources, user_id: uuid.UUID, wait_s: float) -> Iterator[None]:
    """Hold one of the user's prompt-wait slots while a request waits up to ``wait_s`` for its
    mask (429 when the user already has ``max_prompt_waits_per_user`` waiting); none for 0."""
    if check_wait(wait_s) == 0:
        yield
        return
    limit = resources.settings.max_prompt_waits_per_user
    with resources.prompt_waits.holding(user_id, limit, ttl_s=wait_s + 30):
        yield


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
    if not points and box is None and prompt.mask is None:
        problems["points"] = "a prompt needs at least one point, a box or a mask"
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
    if prompt.mask is not None:
        wrong = rle.problem(prompt.mask, height, width)
        if wrong is not None:
            problems["mask"] = wrong
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


def too_many_points(held: int, adding: int) -> Unprocessable:
    message = (
        f"a keyframe holds at most {MAX_POINTS} points in all; it holds {held} and this prompt "
        f"adds {adding}"
    )
    return Unprocessable(f"points: {message}", errors=[{"key": "points", "message": message}])


async def submit_prompt(
    resources: Resources, origin: JobOrigin, prompt: Prompt, *, wait_s: float
) -> tuple[jobs_repo.JobRow, FrameMask | None, PromptRecord]:
    """Store the prompt and start its keyframe's segment job; then wait up to ``wait_s`` for the
    mask. A repeated Idempotency-Key answers the first job (and its prompt), waiting the same way.
    """
    check_wait(wait_s)
    user_id, video_id = origin.user_id, origin.video_id
    video = await get_video(resources, user_id, video_id)
    stored: list[prompts_repo.PromptRow] = []
    async with JobWatch(resources, resync_s=WAIT_RESYNC_S, poll_s=WAIT_POLL_S) as watch:

        async def check() -> None:
            ready_video(video)
            check_prompt(prompt, video.width or 0, video.height or 0, video.frame_count or 0)

        async def prepare(conn: asyncpg.Connection) -> JobSpec[SegmentPayload]:
            await billing.check_quota(conn, user_id, 1)
            object_id, frame = prompt.object_id, prompt.frame_index
            if await repo.lock_object_for_prompt(conn, video_id, object_id) is None:
                raise unknown_object(object_id)
            held = 0  # after a replace the frame holds no prompt
            if prompt.mode == "replace":
                await end_keyframe(conn, video_id, object_id, frame)
            else:
                held = await prompts_repo.keyframe_points(conn, video_id, object_id, frame)
            if held + len(prompt.points) > MAX_POINTS:
                raise too_many_points(held, len(prompt.points))
            row = await prompts_repo.insert_prompt(
                conn,
                video_id=video_id,
                object_id=object_id,
                frame_index=frame,
                points=[[x, y] for x, y in prompt.points],
                labels=list(prompt.labels),
                box=list(prompt.box) if prompt.box is not None else None,
                mask=msgspec.to_builtins(prompt.mask) if prompt.mask is not None else None,
            )
            stored.append(row)
            return JobSpec(SegmentPayload(video_id, object_id, frame, row.id), progress_total=1)

        async def on_queued(conn: asyncpg.Connection, job: jobs_repo.JobRow) -> None:
            if wait_s > 0:
                # Before the commit: no worker can see the job yet, so no event is missed.
                await watch.subscribe(job.id)

        outcome = await submit_job(
            resources, origin, SEGMENT, prepare, check=check, on_queued=on_queued
        )
        record = stored[0] if stored else await _replayed_prompt(resources, outcome.job)
        job = await watch.wait(outcome.job, wait_s)
    return job, job_mask(job), record.to_wire()


async def _replayed_prompt(resources: Resources, job: jobs_repo.JobRow) -> prompts_repo.PromptRow:
    """The prompt that the first request under this Idempotency-Key stored."""
    payload = SEGMENT.decode_payload(job.payload)
    row = None
    if payload.prompt_id is not None:
        async with resources.pool.acquire() as conn:
            row = await prompts_repo.get_prompt(conn, payload.video_id, payload.prompt_id)
    if row is None:
        raise Conflict(
            "Idempotency-Key: the prompt this key stored has been deleted since",
            errors=[{"key": "Idempotency-Key", "message": "its prompt was deleted"}],
        )
    return row


async def end_keyframe(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frame_index: int
) -> int:
    """Drop every prompt of the object on the frame, which stops being a keyframe: its mask row
    gives back the propagated mask it covered (or goes). Returns how many prompts went."""
    deleted = await prompts_repo.end_keyframe(conn, video_id, object_id, frame_index)
    await masks_repo.end_keyframe_mask(conn, video_id, object_id, frame_index)
    return deleted


async def list_prompts(
    resources: Resources,
    user_id: uuid.UUID,
    video_id: uuid.UUID,
    *,
    object_id: int | None,
    frame_index: int | None,
    limit: int,
    cursor: str | None,
) -> Page[PromptRecord]:
    """The video's prompts, oldest first (optionally of one object and/or frame)."""
    after = decode_cursor(cursor) if cursor else None
    await get_video(resources, user_id, video_id)
    async with resources.pool.acquire() as conn:
        rows = await prompts_repo.list_prompts(
            conn,
            video_id,
            object_id=object_id,
            frame_index=frame_index,
            after=after,
            limit=limit + 1,
        )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more else None
    return Page([row.to_wire() for row in page], next_cursor)


async def delete_prompt(
    resources: Resources, origin: JobOrigin, prompt_id: uuid.UUID, *, wait_s: float
) -> tuple[jobs_repo.JobRow | None, FrameMask | None, PromptRecord]:
    """Undo one prompt: its keyframe is recomputed from the prompts left (a segment job, waited
    for as a click is); with none left the frame stops being a keyframe and gets back the mask
    it had before its first prompt."""
    check_wait(wait_s)
    user_id, video_id = origin.user_id, origin.video_id
    video = await get_video(resources, user_id, video_id)
    ready_video(video)
    missing = NotFound(f"prompt {prompt_id} not found in video {video_id}")
    deleted: list[prompts_repo.PromptRow] = []
    async with JobWatch(resources, resync_s=WAIT_RESYNC_S, poll_s=WAIT_POLL_S) as watch:
        async with resources.pool.acquire() as conn, conn.transaction():
            row = await prompts_repo.get_prompt(conn, video_id, prompt_id)
            if (
                row is None
                or await repo.lock_object_for_prompt(conn, video_id, row.object_id) is None
            ):
                raise missing
            # Read again under the object's lock: a concurrent delete of the same prompt lost.
            row = await prompts_repo.get_prompt(conn, video_id, prompt_id)
            if row is None:
                raise missing
            await prompts_repo.delete_prompt(conn, row)
            deleted.append(row)
            left = await prompts_repo.keyframe_prompts(
                conn, video_id, row.object_id, row.frame_index
            )
            job = None
            if not left:
                await prompts_repo.delete_keyframe(conn, video_id, row.object_id, row.frame_index)
                await masks_repo.end_keyframe_mask(conn, video_id, row.object_id, row.frame_index)
            else:
                await billing.check_quota(conn, user_id, 1)
                payload = SegmentPayload(video_id, row.object_id, row.frame_index, None)
                job = await create_job(
                    conn,
                    user_id=user_id,
                    video_id=video_id,
                    job_type=SEGMENT.name,
                    payload=SEGMENT.encode_payload(payload),
                    progress_total=1,
                    request_id=origin.request_id,
                    hold_s=lane.hold_s(resources.settings, SEGMENT.name),
                )
                if wait_s > 0:
                    await watch.subscribe(job.id)
        if job is None:
            await _drop_keyframe_copies(resources, video_id, row.object_id, row.frame_index)
            return None, None, deleted[0].to_wire()
        await lane.dispatch(resources, job)
        job = await watch.wait(job, wait_s)
    return job, job_mask(job), deleted[0].to_wire()


async def delete_keyframe(
    resources: Resources, user_id: uuid.UUID, video_id: uuid.UUID, object_id: int, frame: int
) -> None:
    """Drop every prompt of the object on the frame; it is no longer a keyframe."""
    await get_video(resources, user_id, video_id)
    missing = NotFound(f"object {object_id} has no keyframe {frame} in video {video_id}")
    if not 0 < object_id <= MAX_OBJECT_ID or frame < 0:
        raise missing
    async with resources.pool.acquire() as conn, conn.transaction():
        if await repo.lock_object_for_prompt(conn, video_id, object_id) is None:
            raise NotFound(f"object {object_id} not found in video {video_id}")
        if not await end_keyframe(conn, video_id, object_id, frame):
            raise missing
    await _drop_keyframe_copies(resources, video_id, object_id, frame)


async def _drop_keyframe_copies(
    resources: Resources, video_id: uuid.UUID, object_id: int, frame: int
) -> None:
    """Remove the ended keyframe's stored mask and its hot copy (the row no longer points at
    them; a failure here costs storage, never a wrong answer)."""
    try:
        await resources.redis.delete(mask_storage.hot_mask_key(video_id, object_id, frame))
    except (RedisError, OSError) as exc:
        log.warning("keyframe_hot_copy_not_dropped", error=repr(exc))
    try:
        await resources.s3.delete_object(
            Bucket=resources.settings.s3_bucket,
            Key=mask_storage.keyframe_mask_key(video_id, object_id, frame),
        )
    except (ClientError, BotoCoreError, OSError) as exc:
        log.warning("keyframe_mask_not_dropped", error=repr(exc))
