"""Unit tests (no I/O) of the objects and prompts rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from roto.errors import BadRequest, Unprocessable
from roto.jobs.repository import JobRow
from roto.objects.prompts_service import (
    MAX_POINTS,
    check_prompt,
    check_wait,
    job_mask,
    prompt_problems,
)
from roto.objects.rules import (
    MAX_NAME_LENGTH,
    PALETTE,
    default_color,
    detection_category,
    numbered_name,
)
from roto.objects.schemas import Prompt
from roto.objects.service import check_name, decode_object_cursor, encode_object_cursor


def _prompt(**fields: Any) -> Prompt:
    values: dict[str, Any] = {
        "object_id": 1,
        "frame_index": 0,
        "points": [(1.0, 1.0)],
        "labels": [1],
        **fields,
    }
    return Prompt(**values)


def test_a_click_inside_the_frame_has_no_problems() -> None:
    assert (
        prompt_problems(_prompt(points=[(0.0, 0.0), (159.9, 95.9)], labels=[1, 0]), 160, 96, 1)
        == {}
    )


def test_the_far_edges_are_outside_the_frame() -> None:
    problems = prompt_problems(
        _prompt(points=[(160.0, 0.0), (0.0, 96.0)], labels=[1, 1]), 160, 96, 1
    )
    assert set(problems) == {"points[0]", "points[1]"}


def test_a_box_may_touch_the_far_edges_but_not_pass_them() -> None:
    assert prompt_problems(_prompt(box=(0.0, 0.0, 160.0, 96.0)), 160, 96, 1) == {}
    assert set(prompt_problems(_prompt(box=(0.0, 0.0, 160.5, 96.0)), 160, 96, 1)) == {"box"}


def test_a_box_alone_needs_no_points() -> None:
    assert prompt_problems(_prompt(points=[], labels=[], box=(1.0, 1.0, 5.0, 5.0)), 10, 10, 1) == {}


def test_the_last_frame_is_allowed_and_the_next_is_not() -> None:
    assert prompt_problems(_prompt(frame_index=4), 10, 10, 5) == {}
    assert set(prompt_problems(_prompt(frame_index=5), 10, 10, 5)) == {"frame_index"}


def test_points_are_capped() -> None:
    many = [(1.0, 1.0)] * (MAX_POINTS + 1)
    assert set(prompt_problems(_prompt(points=many, labels=[1] * len(many)), 10, 10, 1)) == {
        "points"
    }
    assert prompt_problems(_prompt(points=many[1:], labels=[1] * MAX_POINTS), 10, 10, 1) == {}


def test_infinite_coordinates_are_outside() -> None:
    problems = prompt_problems(_prompt(points=[(float("inf"), 1.0)]), 10, 10, 1)
    assert set(problems) == {"points[0]"}


def test_check_prompt_names_every_field_in_one_422() -> None:
    with pytest.raises(Unprocessable) as raised:
        check_prompt(_prompt(object_id=0, frame_index=-1, labels=[]), 10, 10, 1)
    assert {e["key"] for e in raised.value.errors or []} == {"object_id", "frame_index", "labels"}


@pytest.mark.parametrize("wait", [-0.1, 30.01, float("nan"), float("inf")])
def test_wait_outside_0_to_30_is_refused(wait: float) -> None:
    with pytest.raises(BadRequest, match="wait"):
        check_wait(wait)


def test_wait_bounds_are_allowed() -> None:
    assert (check_wait(0), check_wait(30)) == (0, 30)


def _job(status: str, result: dict[str, Any] | None) -> JobRow:
    now = datetime.now(UTC)
    return JobRow(
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "segment", status, {}, 0, 1, result,
        None, None, 1, None, now, now, now,
    )  # fmt: skip


def test_job_mask_is_the_result_mask_of_a_succeeded_job_only() -> None:
    mask = {
        "object_id": 1,
        "frame_index": 2,
        "rle": {"size": [2, 2], "counts": "04"},
        "score": 0.5,
        "source": "prompt",
    }
    assert job_mask(_job("succeeded", {"mask": mask})) is not None
    assert job_mask(_job("failed", {"mask": mask})) is None
    assert job_mask(_job("succeeded", {"mask": {"object_id": 1}})) is None
    assert job_mask(_job("succeeded", None)) is None


def test_object_cursor_round_trips_and_refuses_others() -> None:
    assert decode_object_cursor(encode_object_cursor(42)) == 42
    for bad in ("", "!!!", encode_object_cursor(0), "dmlkZW86MQ"):  # "video:1"
        with pytest.raises(BadRequest, match="cursor"):
            decode_object_cursor(bad)


def test_default_colours_cycle_through_the_palette() -> None:
    assert default_color(1) == PALETTE[0]
    assert default_color(len(PALETTE) + 1) == PALETTE[0]


def test_names_are_trimmed_and_must_be_printable() -> None:
    assert check_name("  a b ") == "a b"
    for bad in ("   ", "a\tb", "x\x7f"):
        with pytest.raises(Unprocessable, match="name"):
            check_name(bad)


def test_detected_objects_are_named_after_their_text_within_the_length_names_allow() -> None:
    assert detection_category("  person ") == "person"
    assert detection_category(None) == "object"
    assert detection_category("   ") == "object"
    assert numbered_name("person", 3) == "person 3"
    long = "x" * 200
    category = detection_category(long)
    assert category == "x" * MAX_NAME_LENGTH
    assert numbered_name(category, 12) == "x" * (MAX_NAME_LENGTH - 3) + " 12"
    assert len(numbered_name(category, 100)) == MAX_NAME_LENGTH
