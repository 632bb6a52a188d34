"""The segment job's pure parts (no I/O): combining a keyframe's prompts, reading its payload."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from roto.jobs.contracts import SEGMENT, JobMessage, SegmentPayload
from roto.jobs.repository import JobRow
from roto.objects.prompts_repository import PromptRow
from roto.worker.contract import JobContext, JobFailed
from roto_gpu.jobs.keyframes import combine_prompts


def row(points: list[list[float]], labels: list[int], box: list[float] | None = None) -> PromptRow:
    return PromptRow(
        id=uuid.uuid4(),
        video_id=uuid.uuid4(),
        object_id=1,
        frame_index=0,
        points=points,
        labels=labels,
        box=box,
        created_at=datetime.now(UTC),
    )


def test_points_and_labels_are_concatenated_in_order_and_the_latest_box_wins() -> None:
    rows = [
        row([[1, 2]], [1], [0, 0, 5, 5]),
        row([[3, 4], [5, 6]], [0, 1], [1, 1, 9, 9]),
        row([[7, 8]], [1]),
    ]
    combined = combine_prompts(rows)
    assert combined.points is not None and combined.labels is not None
    np.testing.assert_array_equal(combined.points, [[1, 2], [3, 4], [5, 6], [7, 8]])
    np.testing.assert_array_equal(combined.labels, [1, 0, 1, 1])
    np.testing.assert_array_equal(combined.box, [1, 1, 9, 9])


def test_a_box_alone_gives_no_points() -> None:
    combined = combine_prompts([row([], [], [2, 3, 40, 50])])
    assert combined.points is None and combined.labels is None
    np.testing.assert_array_equal(combined.box, [2, 3, 40, 50])


def test_points_without_any_box_give_no_box() -> None:
    assert combine_prompts([row([[1, 1]], [1]), row([[2, 2]], [0])]).box is None


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
    return JobContext(None, job, JobMessage(str(job.id), "segment"), 1).payload(SEGMENT)  # type: ignore[arg-type]


def test_a_payload_names_video_object_and_frame() -> None:
    video_id = uuid.uuid4()
    payload = parse_payload({"video_id": str(video_id), "object_id": 2, "frame_index": 7})
    assert (payload.video_id, payload.object_id, payload.frame_index) == (video_id, 2, 7)


@pytest.mark.parametrize(
    "payload",
    [{}, {"video_id": "nope", "object_id": 1, "frame_index": 0}, {"video_id": str(uuid.uuid4())}],
)
def test_a_bad_payload_fails_the_job_as_invalid(payload: dict[str, object]) -> None:
    with pytest.raises(JobFailed) as failed:
        parse_payload(payload)
    assert failed.value.code == "invalid_job"
