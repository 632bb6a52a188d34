"""The detection use case: a text or exemplar prompt checked against its frame, a ``detect`` job
queued on the interactive queue and waited for a bounded time; the objects it made and their
keyframe masks are the answer."""

from __future__ import annotations

import asyncpg
import msgspec
import structlog

from roto.billing import service as billing
from roto.detections.schemas import Detection, DetectionDone
from roto.errors import Conflict, Unprocessable
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import DETECT, DetectPayload
from roto.jobs.submit import JobOrigin, JobSpec, submit_job
from roto.jobs.watch import JobWatch
from roto.masks import repository as masks_repo
from roto.masks.loading import MaskLoader
from roto.objects import repository as objects_repo
from roto.objects.prompts_service import WAIT_POLL_S, WAIT_RESYNC_S, check_wait
from roto.objects.rules import MAX_OBJECTS, name_problem
from roto.propagations.spans import resolve_range
from roto.resources import Resources
from roto.videos.repository import VideoRow
from roto.videos.service import get_video, ready_video

log = structlog.get_logger(__name__)


def detection_problems(
    body: Detection, width: int, height: int, frame_count: int
) -> dict[str, str]:
    """What is wrong with ``body`` on a ``width`` x ``height`` video of ``frame_count`` frames,
    by field name; empty when nothing is."""
    problems: dict[str, str] = {}
    if body.text is None and body.exemplar_boxes is None:
        problems["text"] = "give a text, exemplar_boxes, or both"
    elif body.text is not None and (wrong := name_problem(body.text)) is not None:
        problems["text"] = wrong
    if not 0 <= body.frame_index < frame_count:
        problems["frame_index"] = f"must be 0..{frame_count - 1} (the video has {frame_count})"
    for i, (x0, y0, x1, y1) in enumerate(body.exemplar_boxes or []):
        field = f"exemplar_boxes[{i}]"
        if not (x0 < x1 and y0 < y1):
            problems[field] = "must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1"
        elif not (x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height):
            problems[field] = f"must lie inside the {width}x{height} frame"
    return problems


def check_detection(body: Detection, width: int, height: int, frame_count: int) -> None:
    """A 422 listing every problem of the detection, each naming its field."""
    problems = detection_problems(body, width, height, frame_count)
    if problems:
        raise Unprocessable(
            "; ".join(f"{key}: {message}" for key, message in problems.items()),
            errors=[{"key": key, "message": message} for key, message in problems.items()],
        )


def detection_payload(body: Detection, video: VideoRow) -> DetectPayload:
    frame_count = video.frame_count or 0
    # A propagation of the new objects tracks them over the whole video, both ways.
    frame_start, frame_end = resolve_range("both", [body.frame_index], frame_count)
    return DetectPayload(
        video_id=video.id,
        frame_index=body.frame_index,
        text=body.text.strip() if body.text is not None else None,
        boxes=list(body.exemplar_boxes or []),
        threshold=body.threshold,
        max_objects=body.max_objects,
        propagate=body.propagate,
        frame_start=frame_start,
        frame_end=frame_end,
    )


async def submit_detection(
    resources: Resources, origin: JobOrigin, body: Detection, *, wait_s: float
) -> tuple[jobs_repo.JobRow, DetectionDone | None]:
    """Queue the detect job, then wait up to ``wait_s`` for it; the answer holds the objects it
    made once it succeeded. A repeated Idempotency-Key answers the first job, waiting the same
    way."""
    check_wait(wait_s)
    user_id, video_id = origin.user_id, origin.video_id
    video = await get_video(resources, user_id, video_id)
    async with JobWatch(resources, resync_s=WAIT_RESYNC_S, poll_s=WAIT_POLL_S) as watch:

        async def check() -> None:
            ready_video(video)
            check_detection(body, video.width or 0, video.height or 0, video.frame_count or 0)

        async def prepare(conn: asyncpg.Connection) -> JobSpec[DetectPayload]:
            payload = detection_payload(body, video)
            frames = 1 + (payload.frame_end - payload.frame_start + 1 if body.propagate else 0)
            await billing.check_quota(conn, user_id, frames)
            if await objects_repo.count_objects(conn, video_id) >= MAX_OBJECTS:
                raise Conflict(
                    f"video {video_id} already has {MAX_OBJECTS} objects, the most allowed"
                )
            return JobSpec(payload, progress_total=1)

        async def on_queued(conn: asyncpg.Connection, job: jobs_repo.JobRow) -> None:
            if wait_s > 0:
                # Before the commit: no worker can see the job yet, so no event is missed.
                await watch.subscribe(job.id)

        outcome = await submit_job(
            resources, origin, DETECT, prepare, check=check, on_queued=on_queued
        )
        job = await watch.wait(outcome.job, wait_s)
    return job, await _made(resources, video, job)


async def _made(
    resources: Resources, video: VideoRow, job: jobs_repo.JobRow
) -> DetectionDone | None:
    """The objects a succeeded job made and their keyframe masks; None while it is not done
    (or when it failed)."""
    if job.status != "succeeded" or job.result is None:
        return None
    try:
        object_ids = DETECT.decode_result(job.result).object_ids
    except msgspec.ValidationError as exc:
        log.warning("detect_result_malformed", job_id=str(job.id), error=str(exc))
        return None
    frame = DETECT.decode_payload(job.payload).frame_index
    async with resources.pool.acquire() as conn:
        objects = await objects_repo.get_objects(conn, video.id, object_ids)
        rows = await masks_repo.list_masks(
            conn,
            video.id,
            frame_start=frame,
            frame_end=frame,
            object_ids=object_ids,
            limit=max(len(object_ids), 1),
        )
    masks = await MaskLoader(resources, [video.height or 0, video.width or 0]).load(rows)
    return DetectionDone(job.to_wire(), [row.to_wire() for row in objects], masks)
