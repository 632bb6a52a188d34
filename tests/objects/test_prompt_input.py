"""Bad prompts: every one a 4xx problem+json naming the field, and nothing stored or queued."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from roto.objects.prompts_service import MAX_POINTS
from roto.settings import Settings
from tests.objects.helpers import FRAMES, HEIGHT, WIDTH, click, count_rows, new_object, ready_video
from tests.videos.helpers import announce

OK = click(1, 0, 5, 5)
_MANY = [[float(i), 1.0] for i in range(MAX_POINTS + 1)]

PROMPT_CASES: list[tuple[Any, int, str]] = [
    ({**OK, "object_id": 2}, 422, "object_id"),
    ({**OK, "object_id": 0}, 422, "object_id"),
    ({**OK, "object_id": -3}, 422, "object_id"),
    ({**OK, "object_id": 2**40}, 422, "object_id"),
    ({**OK, "object_id": "1"}, 400, "object_id"),
    ({**OK, "object_id": 1.0}, 400, "object_id"),
    ({**OK, "object_id": None}, 400, "object_id"),
    ({k: v for k, v in OK.items() if k != "object_id"}, 400, "object_id"),
    ({**OK, "frame_index": -1}, 422, "frame_index"),
    ({**OK, "frame_index": FRAMES}, 422, "frame_index"),
    ({**OK, "frame_index": 10**12}, 422, "frame_index"),
    ({**OK, "frame_index": "0"}, 400, "frame_index"),
    ({k: v for k, v in OK.items() if k != "frame_index"}, 400, "frame_index"),
    ({**OK, "points": [[WIDTH, 5]]}, 422, "points[0]"),
    ({**OK, "points": [[5, HEIGHT]]}, 422, "points[0]"),
    ({**OK, "points": [[-0.5, 5]]}, 422, "points[0]"),
    ({**OK, "points": [[5, 5], [5, 1e9]], "labels": [1, 0]}, 422, "points[1]"),
    ({**OK, "points": [[5]]}, 400, "points[0]"),
    ({**OK, "points": [[5, 5, 5]]}, 400, "points[0]"),
    ({**OK, "points": [[True, 5]]}, 400, "points[0]"),
    ({**OK, "points": [["5", 5]]}, 400, "points[0]"),
    ({**OK, "points": "5,5"}, 400, "points"),
    ({**OK, "points": _MANY, "labels": [1] * len(_MANY)}, 422, "points"),
    ({**OK, "points": [], "labels": []}, 422, "points"),
    ({**OK, "labels": [1, 1]}, 422, "labels"),
    ({**OK, "labels": []}, 422, "labels"),
    ({k: v for k, v in OK.items() if k != "labels"}, 422, "labels"),
    ({**OK, "labels": [2]}, 400, "labels[0]"),
    ({**OK, "labels": [-1]}, 400, "labels[0]"),
    ({**OK, "labels": [True]}, 400, "labels[0]"),
    ({**OK, "labels": ["1"]}, 400, "labels[0]"),
    ({**OK, "box": [50, 10, 40, 20]}, 422, "box"),
    ({**OK, "box": [10, 10, 10, 20]}, 422, "box"),
    ({**OK, "box": [10, 30, 20, 20]}, 422, "box"),
    ({**OK, "box": [0, 0, WIDTH + 1, 20]}, 422, "box"),
    ({**OK, "box": [0, 0, 20, HEIGHT + 1]}, 422, "box"),
    ({**OK, "box": [-1, 0, 10, 10]}, 422, "box"),
    ({**OK, "points": [], "labels": [], "box": [9, 9, 1, 1]}, 422, "box"),
    ({**OK, "box": [1, 2, 3]}, 400, "box"),
    ({**OK, "box": "1,2,3,4"}, 400, "box"),
    ({**OK, "mode": "merge"}, 400, "mode"),
    ({**OK, "mode": None}, 400, "mode"),
    ({**OK, "colour": "red"}, 400, "colour"),
    ([OK], 400, "object"),
]


def _mismatch(response: Any, status: int, field: str) -> str | None:
    is_problem = response.headers["content-type"].startswith("application/problem+json")
    if response.status_code != status or not is_problem or field not in response.json()["detail"]:
        return f"{response.status_code} {response.text}"
    return None


async def test_every_bad_prompt_is_4xx_naming_the_field(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    await new_object(client, headers, video_id)
    failures = {}
    for body, status, field in PROMPT_CASES:
        response = await client.post(
            f"/v1/videos/{video_id}/prompts?wait=0", json=body, headers=headers
        )
        if problem := _mismatch(response, status, field):
            failures[repr(body)[:90]] = problem
    assert not failures, failures
    assert await count_rows(settings, "prompts", video_id) == 0
    assert await count_rows(settings, "jobs", video_id) == 0


async def test_several_problems_are_all_named(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    await new_object(client, headers, video_id)
    body = {**OK, "frame_index": 99, "points": [[5, 5], [500, 5]], "labels": [1]}
    response = await client.post(f"/v1/videos/{video_id}/prompts", json=body, headers=headers)

    assert response.status_code == 422
    keys = {error["key"] for error in response.json()["errors"]}
    assert keys == {"frame_index", "points[1]", "labels"}


async def test_malformed_json_prompt_is_400(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    response = await client.post(
        f"/v1/videos/{video_id}/prompts",
        content=b'{"object_id": 1, "points": [[1, 2]',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_wait_outside_0_to_30_is_400_naming_wait(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    await new_object(client, headers, video_id)
    failures = {}
    for wait in ("-1", "30.5", "31", "soon", "nan", "inf", ""):
        response = await client.post(
            f"/v1/videos/{video_id}/prompts", params={"wait": wait}, json=OK, headers=headers
        )
        if problem := _mismatch(response, 400, "wait"):
            failures[wait] = problem
    assert not failures, failures
    assert await count_rows(settings, "jobs", video_id) == 0


async def test_prompt_on_a_video_that_is_not_ready_is_409(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = (await announce(client, headers, 100))["video"]["id"]
    response = await client.post(f"/v1/videos/{video_id}/prompts", json=OK, headers=headers)

    assert response.status_code == 409
    assert "awaiting_upload" in response.json()["detail"]
    assert await count_rows(settings, "jobs", video_id) == 0
