"""POST /v1/videos/{id}/detections without a daemon: a ``detect`` job on the interactive queue
with its payload resolved, quota, Idempotency-Key, isolation, and every bad input a 4xx naming its
field with nothing created. The daemon's side is in tests/gpu/test_detect.py."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.testing import AsyncTestClient

from roto.app import create_app
from roto.billing import service as billing
from roto.objects.rules import MAX_OBJECTS
from roto.settings import Settings, load_settings
from tests.billing.test_usage import use_frames, user_id_of
from tests.factories import signup
from tests.objects.helpers import FRAMES, HEIGHT, WIDTH, count_rows, fetch_value, ready_video
from tests.videos.helpers import announce, receive_job_messages

OK: dict[str, Any] = {"text": "person", "frame_index": 0}

DETECTION_CASES: list[tuple[Any, int, str]] = [
    ({**OK, "text": ""}, 400, "text"),
    ({**OK, "text": "x" * 201}, 400, "text"),
    ({**OK, "text": "   "}, 422, "text"),
    ({**OK, "text": "per\x00son"}, 400, "text"),  # refused with any NUL body (roto.bodies)
    ({**OK, "text": 7}, 400, "text"),
    ({"frame_index": 0}, 422, "text"),
    ({"frame_index": 0, "text": None, "exemplar_boxes": None}, 422, "text"),
    ({**OK, "frame_index": FRAMES}, 422, "frame_index"),
    ({**OK, "frame_index": -1}, 422, "frame_index"),
    ({**OK, "frame_index": "0"}, 400, "frame_index"),
    ({"text": "person"}, 400, "frame_index"),
    ({**OK, "exemplar_boxes": []}, 400, "exemplar_boxes"),
    ({**OK, "exemplar_boxes": [[0, 0, 5, 5]] * 21}, 400, "exemplar_boxes"),
    ({**OK, "exemplar_boxes": [[0, 0, WIDTH + 1, 5]]}, 422, "exemplar_boxes[0]"),
    ({**OK, "exemplar_boxes": [[0, 0, 5, 5], [-1, 0, 5, 5]]}, 422, "exemplar_boxes[1]"),
    ({**OK, "exemplar_boxes": [[0, 0, 5, HEIGHT + 0.5]]}, 422, "exemplar_boxes[0]"),
    ({**OK, "exemplar_boxes": [[5, 5, 5, 9]]}, 422, "exemplar_boxes[0]"),
    ({**OK, "exemplar_boxes": [[9, 9, 5, 5]]}, 422, "exemplar_boxes[0]"),
    ({**OK, "exemplar_boxes": [[1, 2, 3]]}, 400, "exemplar_boxes[0]"),
    ({**OK, "max_objects": 0}, 400, "max_objects"),
    ({**OK, "max_objects": MAX_OBJECTS + 1}, 400, "max_objects"),
    ({**OK, "max_objects": 2.5}, 400, "max_objects"),
    ({**OK, "threshold": -0.1}, 400, "threshold"),
    ({**OK, "threshold": 1.5}, 400, "threshold"),
    ({**OK, "propagate": "yes"}, 400, "propagate"),
    ({**OK, "category": "person"}, 400, "category"),
    ([OK], 400, "body"),
]


def _mismatch(response: Any, status: int, field: str) -> str | None:
    is_problem = response.headers["content-type"].startswith("application/problem+json")
    if response.status_code != status or not is_problem or field not in response.json()["detail"]:
        return f"{response.status_code} {response.text}"
    return None


async def payload_of(settings: Settings, job_id: str) -> dict[str, Any]:
    value = await fetch_value(settings, "SELECT payload FROM jobs WHERE id = $1", uuid.UUID(job_id))
    assert isinstance(value, dict)
    return value


async def test_a_detection_is_a_detect_job_on_the_interactive_queue(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, sqs_sync: Any
) -> None:
    video_id = await ready_video(client, headers, settings)
    body = {
        "text": "  yellow school bus ",
        "exemplar_boxes": [[10, 20, 50, 60]],
        "frame_index": 3,
        "threshold": 0.25,
        "max_objects": 7,
        "propagate": True,
    }
    response = await client.post(
        f"/v1/videos/{video_id}/detections", params={"wait": 0}, json=body, headers=headers
    )
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    assert set(response.json()) == {"job"}
    assert (job["type"], job["status"], job["video_id"]) == ("detect", "queued", video_id)
    assert job["progress"] == {"done": 0, "total": 1}
    assert await payload_of(settings, job["id"]) == {
        "video_id": video_id,
        "frame_index": 3,
        "text": "yellow school bus",
        "boxes": [[10.0, 20.0, 50.0, 60.0]],
        "threshold": 0.25,
        "max_objects": 7,
        "propagate": True,
        "frame_start": 0,
        "frame_end": FRAMES - 1,
    }
    (message,) = await receive_job_messages(sqs_sync, settings.queue_names["interactive"], expect=1)
    assert (message.job_id, message.type) == (job["id"], "detect")
    assert await count_rows(settings, "objects", video_id) == 0


async def test_defaults_and_exemplars_alone(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    body = {"exemplar_boxes": [[0, 0, WIDTH, HEIGHT]], "frame_index": FRAMES - 1}
    response = await client.post(
        f"/v1/videos/{video_id}/detections?wait=0", json=body, headers=headers
    )
    assert response.status_code == 202, response.text
    payload = await payload_of(settings, response.json()["job"]["id"])
    assert (payload["text"], payload["threshold"], payload["max_objects"]) == (None, 0.5, 20)
    assert payload["propagate"] is False


async def test_every_bad_detection_is_4xx_naming_the_field_and_creates_nothing(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    failures = {}
    for body, status, field in DETECTION_CASES:
        response = await client.post(
            f"/v1/videos/{video_id}/detections?wait=0", json=body, headers=headers
        )
        if problem := _mismatch(response, status, field):
            failures[repr(body)[:90]] = problem
    for wait in ("-1", "31", "soon"):
        response = await client.post(
            f"/v1/videos/{video_id}/detections", params={"wait": wait}, json=OK, headers=headers
        )
        if problem := _mismatch(response, 400, "wait"):
            failures[f"wait={wait}"] = problem
    assert not failures, failures
    assert await count_rows(settings, "jobs", video_id) == 0
    assert await count_rows(settings, "objects", video_id) == 0


async def test_several_problems_are_all_named(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    body = {"frame_index": 99, "exemplar_boxes": [[0, 0, 5, 5], [0, 0, 500, 5]], "text": " "}
    response = await client.post(f"/v1/videos/{video_id}/detections", json=body, headers=headers)
    assert response.status_code == 422
    keys = {error["key"] for error in response.json()["errors"]}
    assert keys == {"text", "frame_index", "exemplar_boxes[1]"}


async def test_another_users_video_is_404_and_nobody_is_401(
    client: AsyncTestClient,
    headers: dict[str, str],
    other_headers: dict[str, str],
    settings: Settings,
) -> None:
    video_id = await ready_video(client, headers, settings)
    path = f"/v1/videos/{video_id}/detections?wait=0"
    assert (await client.post(path, json=OK, headers=other_headers)).status_code == 404
    assert (await client.post(path, json=OK)).status_code == 401
    not_uuid = await client.post("/v1/videos/nope/detections", json=OK, headers=headers)
    assert not_uuid.status_code == 404
    missing = await client.post(f"/v1/videos/{uuid.uuid4()}/detections", json=OK, headers=headers)
    assert missing.status_code == 404
    assert await count_rows(settings, "jobs", video_id) == 0


async def test_a_video_not_ready_or_full_is_409(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    announced = (await announce(client, headers, 1000))["video"]["id"]
    response = await client.post(
        f"/v1/videos/{announced}/detections?wait=0", json=OK, headers=headers
    )
    assert response.status_code == 409, response.text

    video_id = await ready_video(client, headers, settings)
    fill = (
        "INSERT INTO objects (video_id, object_id, name, color) "
        "SELECT $1, n, 'o', '#000000' FROM generate_series(1, $2) n"
    )
    await fetch_value(settings, fill, uuid.UUID(video_id), MAX_OBJECTS)
    full = await client.post(f"/v1/videos/{video_id}/detections?wait=0", json=OK, headers=headers)
    assert full.status_code == 409, full.text
    assert str(MAX_OBJECTS) in full.json()["detail"]
    assert await count_rows(settings, "jobs", video_id) == 0


async def test_the_same_idempotency_key_answers_the_first_job(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, sqs_sync: Any
) -> None:
    video_id = await ready_video(client, headers, settings)
    keyed = {**headers, "Idempotency-Key": "detect-1"}
    path = f"/v1/videos/{video_id}/detections?wait=0"
    first = await client.post(path, json=OK, headers=keyed)
    again = await client.post(path, json=OK, headers=keyed)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["job"]["id"] == again.json()["job"]["id"]
    assert await count_rows(settings, "jobs", video_id) == 1
    messages = await receive_job_messages(sqs_sync, settings.queue_names["interactive"], expect=1)
    assert len(messages) == 1
    # The same key for another kind of request is refused, naming the header.
    other = await client.post(
        f"/v1/videos/{video_id}/propagations", json={"direction": "both"}, headers=keyed
    )
    assert other.status_code == 422, other.text
    assert "Idempotency-Key" in other.json()["detail"]
    assert await count_rows(settings, "jobs", video_id) == 1


async def test_a_detection_counts_one_frame_and_its_propagation_the_video(
    client: AsyncTestClient, settings: Settings
) -> None:
    headers = await signup(client)
    video_id = await ready_video(client, headers, settings)
    # One frame left: a detection fits, a detection that also propagates does not.
    await use_frames(settings, await user_id_of(client, headers), billing.FRAME_QUOTAS["free"] - 1)
    path = f"/v1/videos/{video_id}/detections?wait=0"
    refused = await client.post(path, json={**OK, "propagate": True}, headers=headers)
    assert refused.status_code == 402, refused.text
    assert f"{1 + FRAMES} frames" in refused.json()["detail"]
    assert await count_rows(settings, "jobs", video_id) == 0
    fits = await client.post(path, json=OK, headers=headers)
    assert fits.status_code == 202, fits.text
    # The queued detection holds that last frame.
    again = await client.post(path, json=OK, headers=headers)
    assert again.status_code == 402, again.text


def test_openapi_documents_the_operation_and_its_answers() -> None:
    settings = load_settings({}, jwt_secret="s" * 40, log_json=False, log_level="WARNING")
    document = create_app(settings).openapi_schema.to_schema()
    operation = document["paths"]["/v1/videos/{video_id}/detections"]["post"]
    responses = operation["responses"]
    assert {"200", "202", "400", "402", "404", "409", "422"} <= set(responses)
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert schema["required"] == ["frame_index"]
    assert set(schema["properties"]) == {
        "text",
        "exemplar_boxes",
        "frame_index",
        "threshold",
        "max_objects",
        "propagate",
    }
    done = responses["200"]["content"]["application/json"]["schema"]
    name = done["$ref"].rsplit("/", 1)[-1]
    assert set(document["components"]["schemas"][name]["properties"]) == {"job", "objects", "masks"}
