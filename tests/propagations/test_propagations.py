"""POST /v1/videos/{id}/propagations: a propagate job on the batch queue with its payload
resolved, Idempotency-Key, and every bad input answered 4xx naming its field."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from roto.app import create_app
from roto.settings import Settings, load_settings
from tests.objects.helpers import FRAMES, count_rows, fetch_value, new_object, ready_video
from tests.propagations.helpers import prompted_video
from tests.videos.helpers import announce, receive_job_messages


async def payload_of(settings: Settings, job_id: str) -> dict[str, Any]:
    value = await fetch_value(settings, "SELECT payload FROM jobs WHERE id = $1", uuid.UUID(job_id))
    assert isinstance(value, dict)
    return value


async def test_propagation_is_a_propagate_job_on_the_batch_queue(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, sqs_sync: Any
) -> None:
    video_id = await prompted_video(client, headers, settings)
    response = await client.post(
        f"/v1/videos/{video_id}/propagations",
        json={"object_ids": [2, 1], "direction": "both"},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    assert (job["type"], job["status"], job["video_id"]) == ("propagate", "queued", video_id)
    assert job["progress"] == {"done": 0, "total": FRAMES}
    assert await payload_of(settings, job["id"]) == {
        "video_id": video_id,
        "object_ids": [1, 2],
        "frame_start": 0,
        "frame_end": FRAMES - 1,
        "direction": "both",
    }
    messages = await receive_job_messages(sqs_sync, settings.queue_names["batch"], expect=1)
    assert [(m.job_id, m.type) for m in messages] == [(job["id"], "propagate")]


@pytest.mark.parametrize(
    ("body", "objects", "start", "end"),
    [
        ({"direction": "forward"}, [1, 2], 3, FRAMES - 1),
        ({"direction": "backward"}, [1, 2], 0, 7),
        ({"direction": "backward", "object_ids": [2]}, [2], 0, 5),
        ({"direction": "forward", "object_ids": None, "frame_end": 9}, [1, 2], 3, 9),
        ({"direction": "forward", "object_ids": [2], "frame_start": 1}, [2], 1, FRAMES - 1),
        ({"direction": "both", "frame_start": 4, "frame_end": 4}, [1, 2], 4, 4),
    ],
)
async def test_left_out_fields_resolve_from_the_keyframes(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    body: dict[str, Any],
    objects: list[int],
    start: int,
    end: int,
) -> None:
    video_id = await prompted_video(client, headers, settings)
    response = await client.post(f"/v1/videos/{video_id}/propagations", json=body, headers=headers)
    assert response.status_code == 202, response.text
    payload = await payload_of(settings, response.json()["job"]["id"])
    assert (payload["object_ids"], payload["frame_start"], payload["frame_end"]) == (
        objects,
        start,
        end,
    )
    assert response.json()["job"]["progress"]["total"] == end - start + 1


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({}, 400, "direction", "required"),
        ({"direction": "sideways"}, 400, "direction", ""),
        ({"direction": "forward", "extra": 1}, 400, "extra", ""),
        ({"direction": "forward", "frame_start": -1}, 400, "frame_start", ""),
        ({"direction": "forward", "frame_start": "3"}, 400, "frame_start", ""),
        ({"direction": "forward", "object_ids": "1"}, 400, "object_ids", ""),
        ({"direction": "forward", "frame_start": FRAMES}, 422, "frame_start", "0..11"),
        ({"direction": "forward", "frame_end": 99}, 422, "frame_end", "0..11"),
        ({"direction": "forward", "frame_start": 5, "frame_end": 3}, 422, "frame_end", "before"),
        ({"direction": "forward", "object_ids": []}, 422, "object_ids", "at least one"),
        ({"direction": "forward", "object_ids": [1, 1]}, 422, "object_ids", "more than once"),
        ({"direction": "forward", "object_ids": [1, 9]}, 422, "object_ids", "no object 9"),
        ({"direction": "forward", "object_ids": [3, 1]}, 422, "object_ids", "3 has no keyframes"),
    ],
)
async def test_bad_input_is_4xx_naming_the_field(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    body: dict[str, Any],
    status: int,
    field: str,
    words: str,
) -> None:
    video_id = await prompted_video(client, headers, settings)
    response = await client.post(f"/v1/videos/{video_id}/propagations", json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert field in problem["detail"]
    assert words in problem["detail"]
    assert await count_rows(settings, "jobs", video_id) == 0


async def test_no_object_with_keyframes_is_422_naming_object_ids(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    await new_object(client, headers, video_id)
    response = await client.post(
        f"/v1/videos/{video_id}/propagations", json={"direction": "both"}, headers=headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["key"] == "object_ids"


async def test_video_not_ready_is_409(client: AsyncTestClient, headers: dict[str, str]) -> None:
    video_id = (await announce(client, headers, 1000))["video"]["id"]
    response = await client.post(
        f"/v1/videos/{video_id}/propagations", json={"direction": "both"}, headers=headers
    )
    assert response.status_code == 409, response.text


async def test_another_users_video_is_404_and_nobody_is_401(
    client: AsyncTestClient,
    headers: dict[str, str],
    other_headers: dict[str, str],
    settings: Settings,
) -> None:
    video_id = await prompted_video(client, headers, settings)
    path = f"/v1/videos/{video_id}/propagations"
    body = {"direction": "both"}
    assert (await client.post(path, json=body, headers=other_headers)).status_code == 404
    assert (await client.post(path, json=body)).status_code == 401
    not_uuid = await client.post("/v1/videos/nope/propagations", json=body, headers=headers)
    assert not_uuid.status_code == 404
    assert await count_rows(settings, "jobs", video_id) == 0


async def test_idempotency_key_answers_the_same_job(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, sqs_sync: Any
) -> None:
    video_id = await prompted_video(client, headers, settings)
    keyed = {**headers, "Idempotency-Key": "propagate-1"}
    path = f"/v1/videos/{video_id}/propagations"
    first = await client.post(path, json={"direction": "forward"}, headers=keyed)
    again = await client.post(path, json={"direction": "forward"}, headers=keyed)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["job"]["id"] == again.json()["job"]["id"]
    assert await count_rows(settings, "jobs", video_id) == 1
    messages = await receive_job_messages(sqs_sync, settings.queue_names["batch"], expect=1)
    assert len(messages) == 1


def test_openapi_documents_the_operation_and_its_errors() -> None:
    settings = load_settings({}, jwt_secret="s" * 40, log_json=False, log_level="WARNING")
    document = create_app(settings).openapi_schema.to_schema()
    operation = document["paths"]["/v1/videos/{video_id}/propagations"]["post"]
    responses = operation["responses"]
    assert {"202", "400", "404", "409", "422"} <= set(responses)
    for code in ("400", "404", "409", "422"):
        assert "application/problem+json" in responses[code]["content"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert schema["required"] == ["direction"]
    assert set(schema["properties"]) == {"direction", "object_ids", "frame_start", "frame_end"}


async def test_same_idempotency_key_with_another_body_is_422_naming_the_header(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await prompted_video(client, headers, settings)
    keyed = {**headers, "Idempotency-Key": "propagate-2"}
    path = f"/v1/videos/{video_id}/propagations"
    first = await client.post(path, json={"direction": "forward"}, headers=keyed)
    other = await client.post(path, json={"direction": "backward"}, headers=keyed)
    again = await client.post(path, json={"direction": "forward"}, headers=keyed)

    assert first.status_code == 202, first.text
    assert other.status_code == 422, other.text
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["errors"] == [
        {"key": "Idempotency-Key", "message": "reused with a different body"}
    ]
    assert (again.status_code, again.json()["job"]["id"]) == (202, first.json()["job"]["id"])
    assert await count_rows(settings, "jobs", video_id) == 1
