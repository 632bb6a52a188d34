"""Announcing an upload, uploading through presigned URLs, and completing it into an ingest job."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from roto.settings import MiB, Settings
from roto.videos.storage import source_key
from tests.factories import signup
from tests.videos.helpers import (
    announce,
    connect,
    ingesting_video,
    put_file,
    put_parts,
    receive_job_messages,
    uploaded_video,
)

SMALL_MULTIPART = {"multipart_threshold_bytes": 5 * MiB, "multipart_part_size_bytes": 5 * MiB}


async def test_small_file_gets_a_single_presigned_put(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    created = await announce(client, headers, 1234, filename="shot 010.mov")
    video, upload = created["video"], created["upload"]
    assert video["status"] == "awaiting_upload"
    assert video["filename"] == "shot 010.mov"
    assert video["size_bytes"] == 1234
    assert video["error"] is None and video["frame_count"] is None
    assert video["created_at"].endswith("Z")
    assert upload["method"] == "PUT"
    assert upload["headers"] == {"Content-Type": "video/mp4"}
    assert source_key(video["id"]) in upload["url"]
    assert upload["url"].startswith(settings.aws_endpoint_url or "")
    assert upload["expires_at"] > video["created_at"]


async def test_upload_complete_queues_an_ingest_job_message(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    data = os.urandom(4096)
    video = await uploaded_video(client, headers, data)
    stored = s3_sync.get_object(Bucket=settings.s3_bucket, Key=source_key(video["id"]))
    assert stored["Body"].read() == data

    response = await client.post(
        f"/v1/videos/{video['id']}/upload-complete",
        json={},
        headers={**headers, "X-Request-ID": "req-upload-1"},
    )

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["video"]["status"] == "ingesting"
    job = body["job"]
    assert (job["type"], job["status"], job["video_id"]) == ("ingest", "queued", video["id"])
    messages = await receive_job_messages(sqs_sync, settings.queue_media, expect=1)
    assert [(m.job_id, m.type, m.request_id) for m in messages] == [
        (job["id"], "ingest", "req-upload-1")
    ]
    conn = await connect(settings)
    try:
        payload = await conn.fetchval(
            "SELECT payload FROM jobs WHERE id = $1", uuid.UUID(job["id"])
        )
    finally:
        await conn.close()
    assert payload == {"video_id": video["id"]}


@pytest.mark.parametrize("settings", [SMALL_MULTIPART], indirect=True)
async def test_large_file_uploads_in_parts_and_completes(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    s3_sync: Any,
    sqs_sync: Any,
) -> None:
    data = os.urandom(11 * MiB)
    created = await announce(client, headers, len(data))
    upload, video = created["upload"], created["video"]
    assert upload["method"] == "MULTIPART"
    assert upload["part_size"] == 5 * MiB
    assert [p["part_number"] for p in upload["parts"]] == [1, 2, 3]
    parts = await put_parts(upload, data)

    response = await client.post(
        f"/v1/videos/{video['id']}/upload-complete", json={"parts": parts}, headers=headers
    )

    assert response.status_code == 202, response.text
    stored = s3_sync.get_object(Bucket=settings.s3_bucket, Key=source_key(video["id"]))
    assert stored["Body"].read() == data
    messages = await receive_job_messages(sqs_sync, settings.queue_media, expect=1)
    assert [m.job_id for m in messages] == [response.json()["job"]["id"]]


@pytest.mark.parametrize("settings", [SMALL_MULTIPART], indirect=True)
async def test_multipart_complete_without_parts_is_422_naming_parts(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    created = await announce(client, headers, 6 * MiB)
    response = await client.post(
        f"/v1/videos/{created['video']['id']}/upload-complete", json={}, headers=headers
    )
    assert response.status_code == 422
    assert "parts" in response.json()["detail"]


@pytest.mark.parametrize("settings", [SMALL_MULTIPART], indirect=True)
async def test_multipart_complete_with_wrong_etag_is_422_naming_parts(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    data = os.urandom(6 * MiB)
    created = await announce(client, headers, len(data))
    parts = await put_parts(created["upload"], data)
    parts[0]["etag"] = '"0123456789abcdef0123456789abcdef"'
    response = await client.post(
        f"/v1/videos/{created['video']['id']}/upload-complete",
        json={"parts": parts},
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert "parts" in response.json()["detail"]


async def test_upload_complete_before_the_put_is_409(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    created = await announce(client, headers, 100)
    response = await client.post(
        f"/v1/videos/{created['video']['id']}/upload-complete", json={}, headers=headers
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "PUT the file" in response.json()["detail"]
    still = await client.get(f"/v1/videos/{created['video']['id']}", headers=headers)
    assert still.json()["status"] == "awaiting_upload"


async def test_uploaded_size_differing_from_announced_is_422(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    created = await announce(client, headers, 100)
    await put_file(created["upload"], b"x" * 99)
    response = await client.post(
        f"/v1/videos/{created['video']['id']}/upload-complete", json={}, headers=headers
    )
    assert response.status_code == 422
    assert "size_bytes" in response.json()["detail"]


async def test_parts_sent_for_a_single_put_upload_is_422(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    video = await uploaded_video(client, headers)
    response = await client.post(
        f"/v1/videos/{video['id']}/upload-complete",
        json={"parts": [{"part_number": 1, "etag": "abc"}]},
        headers=headers,
    )
    assert response.status_code == 422
    assert "parts" in response.json()["detail"]


async def test_second_upload_complete_without_key_is_409(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    video, _ = await ingesting_video(client, headers)
    again = await client.post(f"/v1/videos/{video['id']}/upload-complete", json={}, headers=headers)
    assert again.status_code == 409


async def test_same_idempotency_key_answers_the_same_job_once(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, sqs_sync: Any
) -> None:
    video = await uploaded_video(client, headers)
    keyed = {**headers, "Idempotency-Key": "complete-" + video["id"]}
    path = f"/v1/videos/{video['id']}/upload-complete"

    first = await client.post(path, json={}, headers=keyed)
    second = await client.post(path, json={}, headers=keyed)

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["job"]["id"] == second.json()["job"]["id"]
    messages = await receive_job_messages(sqs_sync, settings.queue_media, expect=1)
    assert len(messages) == 1


async def test_other_idempotency_key_on_same_video_is_409(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    video = await uploaded_video(client, headers)
    path = f"/v1/videos/{video['id']}/upload-complete"
    first = await client.post(path, json={}, headers={**headers, "Idempotency-Key": "a"})
    second = await client.post(path, json={}, headers={**headers, "Idempotency-Key": "b"})
    assert (first.status_code, second.status_code) == (202, 409)


async def test_idempotency_key_reused_for_another_video_is_422(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    first_video = await uploaded_video(client, headers)
    second_video = await uploaded_video(client, headers)
    keyed = {**headers, "Idempotency-Key": "shared-key"}
    first = await client.post(
        f"/v1/videos/{first_video['id']}/upload-complete", json={}, headers=keyed
    )
    second = await client.post(
        f"/v1/videos/{second_video['id']}/upload-complete", json={}, headers=keyed
    )
    assert first.status_code == 202
    assert second.status_code == 422
    assert "Idempotency-Key" in second.json()["detail"]


async def test_idempotency_keys_are_per_user(
    client: AsyncTestClient, headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    mine = await uploaded_video(client, headers)
    theirs = await uploaded_video(client, other_headers)
    first = await client.post(
        f"/v1/videos/{mine['id']}/upload-complete",
        json={},
        headers={**headers, "Idempotency-Key": "k1"},
    )
    second = await client.post(
        f"/v1/videos/{theirs['id']}/upload-complete",
        json={},
        headers={**other_headers, "Idempotency-Key": "k1"},
    )
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["job"]["id"] != second.json()["job"]["id"]


async def test_concurrent_requests_with_one_key_create_one_job(
    live: httpx.AsyncClient, settings: Settings, sqs_sync: Any
) -> None:
    headers = await signup(live)
    video = await uploaded_video(live, headers)
    keyed = {**headers, "Idempotency-Key": "race"}
    path = f"/v1/videos/{video['id']}/upload-complete"

    answers = await asyncio.gather(*(live.post(path, json={}, headers=keyed) for _ in range(6)))

    assert [a.status_code for a in answers] == [202] * 6, [a.text for a in answers]
    assert len({a.json()["job"]["id"] for a in answers}) == 1
    conn = await connect(settings)
    try:
        jobs = await conn.fetchval(
            "SELECT count(*) FROM jobs WHERE video_id = $1", uuid.UUID(video["id"])
        )
    finally:
        await conn.close()
    assert jobs == 1
    assert len(await receive_job_messages(sqs_sync, settings.queue_media, expect=1)) == 1


async def test_concurrent_requests_without_a_key_start_ingest_once(
    live: httpx.AsyncClient, settings: Settings, sqs_sync: Any
) -> None:
    headers = await signup(live)
    video = await uploaded_video(live, headers)
    path = f"/v1/videos/{video['id']}/upload-complete"

    answers = await asyncio.gather(*(live.post(path, json={}, headers=headers) for _ in range(4)))

    assert sorted(a.status_code for a in answers) == [202, 409, 409, 409]
    assert len(await receive_job_messages(sqs_sync, settings.queue_media, expect=1)) == 1
