"""The propagation use case: check the request against the video, its objects and their
keyframes, resolve what it leaves out, and queue a ``propagate`` job on the batch queue."""

from __future__ import annotations

import uuid

import asyncpg

from roto.billing import service as billing
from roto.errors import NotFound, Unprocessable
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import PROPAGATE, PropagatePayload
from roto.jobs.submit import JobOrigin, JobSpec, submit_job
from roto.propagations import repository as repo
from roto.propagations.schemas import PropagationCreate, Span, SpanList
from roto.propagations.spans import resolve_range, span_states
from roto.resources import Resources
from roto.videos.service import get_video, ready_video

#: Objects one request may name (a video holds at most 100).
MAX_OBJECT_IDS = 100


def _problem(problems: dict[str, str]) -> Unprocessable:
    return Unprocessable(
        "; ".join(f"{key}: {message}" for key, message in problems.items()),
        errors=[{"key": key, "message": message} for key, message in problems.items()],
    )


def check_range(body: PropagationCreate, frame_count: int) -> None:
    """A 422 naming ``frame_start``/``frame_end`` when they are not a range of the video."""
    problems: dict[str, str] = {}
    for name, value in (("frame_start", body.frame_start), ("frame_end", body.frame_end)):
        if value is not None and value >= frame_count:
            problems[name] = f"must be 0..{frame_count - 1} (the video has {frame_count} frames)"
    start, end = body.frame_start, body.frame_end
    if not problems and start is not None and end is not None and start > end:
        problems["frame_end"] = f"must not be before frame_start ({start}), got {end}"
    if problems:
        raise _problem(problems)


def check_object_ids(object_ids: list[int] | None) -> None:
    if object_ids is None:
        return
    if not object_ids:
        raise _problem({"object_ids": "name at least one object, or null for all of them"})
    if len(object_ids) > MAX_OBJECT_IDS:
        raise _problem({"object_ids": f"at most {MAX_OBJECT_IDS} objects, got {len(object_ids)}"})
    if len(set(object_ids)) != len(object_ids):
        raise _problem({"object_ids": "names an object more than once"})


def choose_objects(keyframes: dict[int, list[int]], object_ids: list[int] | None) -> list[int]:
    """The objects to propagate: those named, or every one with keyframes; each must exist and
    have keyframes, else a 422 naming ``object_ids`` and the objects at fault."""
    if object_ids is None:
        chosen = [o for o, frames in sorted(keyframes.items()) if frames]
        if not chosen:
            raise _problem({"object_ids": "no object of this video has keyframes: prompt first"})
        return chosen
    unknown = [o for o in object_ids if o not in keyframes]
    if unknown:
        listed = ", ".join(map(str, unknown))
        raise _problem({"object_ids": f"no object {listed} in this video"})
    bare = [o for o in object_ids if not keyframes[o]]
    if bare:
        listed = ", ".join(map(str, bare))
        raise _problem({"object_ids": f"object {listed} has no keyframes: prompt it first"})
    return sorted(object_ids)


async def create_propagation(
    resources: Resources, origin: JobOrigin, body: PropagationCreate
) -> jobs_repo.JobRow:
    """Queue the propagate job; a repeated Idempotency-Key answers the first one."""
    user_id, video_id = origin.user_id, origin.video_id
    video = await get_video(resources, user_id, video_id)
    frame_count = video.frame_count or 0

    async def check() -> None:
        ready_video(video)
        check_range(body, frame_count)
        check_object_ids(body.object_ids)

    async def prepare(conn: asyncpg.Connection) -> JobSpec[PropagatePayload]:
        keyframes = await repo.object_keyframes(conn, video_id)
        object_ids = choose_objects(keyframes, body.object_ids)
        frame_start, frame_end = resolve_range(
            body.direction,
            {f for o in object_ids for f in keyframes[o]},
            frame_count,
            body.frame_start,
            body.frame_end,
        )
        # Up to the whole range: spans still fresh are skipped and not billed.
        await billing.check_quota(conn, user_id, frame_end - frame_start + 1)
        payload = PropagatePayload(video_id, object_ids, frame_start, frame_end, body.direction)
        return JobSpec(payload, progress_total=frame_end - frame_start + 1)

    outcome = await submit_job(resources, origin, PROPAGATE, prepare, check=check)
    return outcome.job


async def list_spans(
    resources: Resources, user_id: uuid.UUID, video_id: uuid.UUID, object_id: int | None
) -> SpanList:
    """Which frames of each object (or of ``object_id``) are fresh, stale or missing."""
    video = await get_video(resources, user_id, video_id)
    if not video.is_ready:
        return SpanList([])
    async with resources.pool.acquire() as conn:
        objects = await repo.object_keyframes(conn, video_id)
        if object_id is not None and object_id not in objects:
            raise NotFound(f"object {object_id} not found in video {video_id}")
        chosen = [object_id] if object_id is not None else sorted(objects)
        versions = await repo.keyframe_versions(conn, video_id, object_id)
        rows = await repo.spans_of(conn, video_id, chosen)
    items = [
        Span(o, run.first, run.last, run.state)  # type: ignore[arg-type]
        for o in chosen
        for run in span_states(
            versions.get(o, {}), [r for r in rows if r.object_id == o], video.frame_count or 0
        )
    ]
    return SpanList(items)
