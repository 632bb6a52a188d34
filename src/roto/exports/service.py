"""The export use case: check the request against the video, its objects and their stored
masks (all from PostgreSQL), resolve what it leaves out, and queue an ``export`` job."""

from __future__ import annotations

import asyncpg

from roto.errors import Unprocessable
from roto.exports import repository as repo
from roto.exports.schemas import (
    DATASET_FORMATS,
    DEEP_FORMATS,
    MATTE_FORMATS,
    SPLIT_TOLERANCE,
    ExportCreate,
)
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import EXPORT, ExportPayload
from roto.jobs.submit import JobOrigin, JobSpec, submit_job
from roto.resources import Resources
from roto.videos.service import get_video, ready_video

#: Objects one request may name (a video holds at most 100).
MAX_OBJECT_IDS = 100


def _problem(problems: dict[str, str]) -> Unprocessable:
    return Unprocessable(
        "; ".join(f"{key}: {message}" for key, message in problems.items()),
        errors=[{"key": key, "message": message} for key, message in problems.items()],
    )


def resolve_range(body: ExportCreate, frame_count: int) -> tuple[int, int]:
    """(frame_start, frame_end), the whole video where left out; a 422 names a bad bound."""
    problems: dict[str, str] = {}
    for name, value in (("frame_start", body.frame_start), ("frame_end", body.frame_end)):
        if value is not None and value >= frame_count:
            problems[name] = f"must be 0..{frame_count - 1} (the video has {frame_count} frames)"
    start = 0 if body.frame_start is None else body.frame_start
    end = frame_count - 1 if body.frame_end is None else body.frame_end
    if not problems and start > end:
        problems["frame_end"] = f"must not be before frame_start ({start}), got {end}"
    if problems:
        raise _problem(problems)
    return start, end


def check_request(body: ExportCreate) -> None:
    """What can be refused without reading the video's objects."""
    if body.bit_depth == 16 and body.format not in DEEP_FORMATS:
        raise _problem({"bit_depth": f"{body.format} has no {body.bit_depth}-bit variant; use 8"})
    if body.matte is not None and body.format not in MATTE_FORMATS:
        listed = ", ".join(sorted(MATTE_FORMATS))
        raise _problem({"matte": f"{body.format} writes no matte; matte is for {listed}"})
    if body.dataset is not None:
        if body.format not in DATASET_FORMATS:
            listed = ", ".join(sorted(DATASET_FORMATS))
            raise _problem({"dataset": f"{body.format} is not a dataset; dataset is for {listed}"})
        splits = body.dataset.splits
        if splits is not None:
            if "train" not in splits:
                raise _problem({"dataset.splits": "must have a train share"})
            if abs(sum(splits.values()) - 1) > SPLIT_TOLERANCE:
                total = sum(splits.values())
                raise _problem({"dataset.splits": f"the shares must sum to 1, not {total:g}"})
    ids = body.object_ids
    if ids is None:
        return
    if not ids:
        raise _problem({"object_ids": "name at least one object, or null for all of them"})
    if len(ids) > MAX_OBJECT_IDS:
        raise _problem({"object_ids": f"at most {MAX_OBJECT_IDS} objects, got {len(ids)}"})
    if len(set(ids)) != len(ids):
        raise _problem({"object_ids": "names an object more than once"})


def choose_objects(
    counts: dict[int, repo.ObjectMasks], object_ids: list[int] | None, start: int, end: int
) -> list[int]:
    """The objects to export: those named, or every one with masks. Each must exist and have
    masks, and at least one must have a mask in the range; else a 422 naming the field."""
    if object_ids is None:
        chosen = [o for o, c in sorted(counts.items()) if c.masks]
        if not chosen:
            raise _problem(
                {"object_ids": "this video has no masks yet: prompt or propagate an object first"}
            )
    else:
        unknown = [o for o in object_ids if o not in counts]
        if unknown:
            raise _problem({"object_ids": f"no object {_listed(unknown)} in this video"})
        bare = [o for o in object_ids if not counts[o].masks]
        if bare:
            raise _problem(
                {"object_ids": f"object {_listed(bare)} has no masks yet: prompt or propagate it"}
            )
        chosen = sorted(object_ids)
    if not any(counts[o].masks_in_range for o in chosen):
        raise _problem(
            {"frame_start": f"the objects have no mask in frames {start}..{end}: nothing to export"}
        )
    return chosen


def _listed(ids: list[int]) -> str:
    return ", ".join(map(str, ids))


async def create_export(
    resources: Resources, origin: JobOrigin, body: ExportCreate
) -> jobs_repo.JobRow:
    """Queue the export job; a repeated Idempotency-Key answers the first one."""
    video_id = origin.video_id
    video = await get_video(resources, origin.user_id, video_id)

    async def check() -> None:
        ready_video(video)
        check_request(body)
        resolve_range(body, video.frame_count or 0)

    async def prepare(conn: asyncpg.Connection) -> JobSpec[ExportPayload]:
        frame_start, frame_end = resolve_range(body, video.frame_count or 0)
        counts = await repo.object_mask_counts(conn, video_id, frame_start, frame_end)
        object_ids = choose_objects(counts, body.object_ids, frame_start, frame_end)
        payload = ExportPayload(
            video_id=video_id,
            format=body.format,
            object_ids=object_ids,
            frame_start=frame_start,
            frame_end=frame_end,
            start_number=body.start_number,
            bit_depth=body.bit_depth,
            matte=body.matte,
            dataset=body.dataset,
        )
        return JobSpec(payload, progress_total=frame_end - frame_start + 1)

    outcome = await submit_job(resources, origin, EXPORT, prepare, check=check)
    return outcome.job
