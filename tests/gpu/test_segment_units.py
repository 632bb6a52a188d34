"""The segment job's pure parts (no I/O): the decoder passes a keyframe's prompt history makes,
and reading its payload."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from roto.jobs.contracts import SEGMENT, JobMessage, SegmentPayload
from roto.jobs.repository import JobRow
from roto.objects.prompts_repository import PromptRow
from roto.worker.contract import JobContext, JobFailed
from roto_gpu.jobs.keyframes import decode_steps

MATTE = {"size": [4, 4], "counts": "04<0"}


def row(
    points: list[list[float]],
    labels: list[int],
    box: list[float] | None = None,
    mask: dict[str, Any] | None = None,
) -> PromptRow:
    return PromptRow(
        id=uuid.uuid4(),
        video_id=uuid.uuid4(),
        object_id=1,
        frame_index=0,
        points=points,
        labels=labels,
        box=box,
        created_at=datetime.now(UTC),
        mask=mask,
    )


def passes(
    rows: list[PromptRow],
) -> list[tuple[int, Any, list[list[float]] | None, list[int] | None]]:
    return [
        (
            step.prompt,
            step.matte,
            None if step.points is None else step.points.tolist(),
            None if step.labels is None else step.labels.tolist(),
        )
        for step in decode_steps(rows)
    ]


def test_clicks_add_to_the_frames_points_one_pass_per_prompt() -> None:
    rows = [row([[1, 2]], [1]), row([[3, 4], [5, 6]], [0, 1])]
    assert passes(rows) == [
        (0, None, [[1, 2]], [1]),
        (1, None, [[1, 2], [3, 4], [5, 6]], [1, 0, 1]),
    ]


def test_a_box_starts_the_points_over_with_its_corners_first() -> None:
    rows = [row([[1, 2]], [1]), row([[7, 8]], [0], [0, 0, 5, 5]), row([[9, 9]], [1])]
    assert passes(rows)[1:] == [
        (1, None, [[0, 0], [5, 5], [7, 8]], [2, 3, 0]),
        (2, None, [[0, 0], [5, 5], [7, 8], [9, 9]], [2, 3, 0, 1]),
    ]
    assert passes([row([], [], [2, 3, 40, 50])]) == [(0, None, [[2, 3], [40, 50]], [2, 3])]


def test_a_matte_replaces_the_mask_clears_the_points_and_its_clicks_refine_it() -> None:
    rows = [row([[1, 2]], [1]), row([[3, 3]], [0], mask=MATTE), row([[4, 4]], [1])]
    assert passes(rows) == [
        (0, None, [[1, 2]], [1]),
        (1, MATTE, None, None),
        (1, None, [[3, 3]], [0]),
        (2, None, [[3, 3], [4, 4]], [0, 1]),
    ]


def parse_payload(payload: dict[str, object]) -> SegmentPayload:
    """The payload as the running job reads it (``JobContext.payload``)."""
    now = datetime.now(UTC)
    job = JobRow(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        video_id=None,
        type="segment",
        status="running",
        payload=payload,
        progress_done=0,
        progress_total=1,
        result=None,
        error_code=None,
        error_message=None,
        attempts=1,
        request_id=None,
        created_at=now,
        started_at=now,
        finished_at=None,
    )
    context = JobContext(None, job, JobMessage(str(job.id), "segment"), 1)  # type: ignore[arg-type]
    return context.payload(SEGMENT)


def test_a_payload_names_video_object_frame_and_prompt() -> None:
    video_id, prompt_id = uuid.uuid4(), uuid.uuid4()
    payload = parse_payload(
        {
            "video_id": str(video_id),
            "object_id": 2,
            "frame_index": 7,
            "prompt_id": str(prompt_id),
        }
    )
    assert (payload.video_id, payload.object_id, payload.frame_index) == (video_id, 2, 7)
    assert payload.prompt_id == prompt_id
    assert (
        parse_payload({"video_id": str(video_id), "object_id": 2, "frame_index": 7}).prompt_id
        is None
    )


@pytest.mark.parametrize(
    "payload",
    [{}, {"video_id": "nope", "object_id": 1, "frame_index": 0}, {"video_id": str(uuid.uuid4())}],
)
def test_a_bad_payload_fails_the_job_as_invalid(payload: dict[str, object]) -> None:
    with pytest.raises(JobFailed) as failed:
        parse_payload(payload)
    assert failed.value.code == "invalid_job"


def test_steps_keep_points_as_float_arrays() -> None:
    (step,) = decode_steps([row([[1.5, 2.5]], [1])])
    assert step.points is not None and step.points.dtype == np.float64
