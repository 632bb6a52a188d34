"""Listing, reading and canceling jobs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import msgspec
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from roto.jobs import events
from roto.jobs import repository as jobs_repo
from roto.settings import Settings
from tests.factories import signup
from tests.videos.helpers import connect, ingesting_video

JOB_FIELDS = {
    "id", "type", "status", "video_id", "progress", "created_at", "started_at", "finished_at",
    "error", "result",
}  # fmt: skip


async def _finish(settings: Settings, job_id: str, status: str, **fields: Any) -> None:
    conn = await connect(settings)
    try:
        assert await jobs_repo.finish_job(conn, uuid.UUID(job_id), status, **fields) is not None
    finally:
        await conn.close()


async def _ids(client: AsyncTestClient, headers: dict[str, str], query: str) -> list[str]:
    response = await client.get(f"/v1/jobs?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["items"]]


async def test_get_job_shows_the_job_wire_shape(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    video, job = await ingesting_video(client, headers)
    response = await client.get(f"/v1/jobs/{job['id']}", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == JOB_FIELDS
    assert body == job
    assert body["video_id"] == video["id"]
    assert body["error"] is None and body["finished_at"] is None


async def test_non_uuid_job_id_is_404(client: AsyncTestClient, headers: dict[str, str]) -> None:
    for path in ("/v1/jobs/123", "/v1/jobs/123/cancel", "/v1/jobs/123/events"):
        method = client.post if path.endswith("cancel") else client.get
        assert (await method(path, headers=headers)).status_code == 404, path


async def test_list_filters_by_video_and_status(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    first_video, first = await ingesting_video(client, headers)
    _, second = await ingesting_video(client, headers)
    await _finish(settings, first["id"], "succeeded", result={"frames": 12})

    assert await _ids(client, headers, "") == [second["id"], first["id"]]
    assert await _ids(client, headers, f"video_id={first_video['id']}") == [first["id"]]
    assert await _ids(client, headers, "status=succeeded") == [first["id"]]
    assert await _ids(client, headers, "status=queued") == [second["id"]]
    assert await _ids(client, headers, f"video_id={first_video['id']}&status=queued") == []
    assert await _ids(client, headers, f"video_id={uuid.uuid4()}") == []
    assert await _ids(client, headers, "video_id=not-a-uuid") == []
    finished = (await client.get(f"/v1/jobs/{first['id']}", headers=headers)).json()
    assert finished["result"] == {"frames": 12}
    assert finished["finished_at"] is not None


async def test_list_pages_with_a_cursor(client: AsyncTestClient, headers: dict[str, str]) -> None:
    jobs = [(await ingesting_video(client, headers))[1]["id"] for _ in range(3)]
    first = (await client.get("/v1/jobs?limit=2", headers=headers)).json()
    second = (
        await client.get(f"/v1/jobs?limit=2&cursor={first['next_cursor']}", headers=headers)
    ).json()
    assert [j["id"] for j in first["items"] + second["items"]] == list(reversed(jobs))
    assert second["next_cursor"] is None


async def test_list_shows_only_the_callers_jobs(
    client: AsyncTestClient, headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    their_video, _ = await ingesting_video(client, other_headers)
    _, mine = await ingesting_video(client, headers)
    assert await _ids(client, headers, "") == [mine["id"]]
    assert await _ids(client, headers, f"video_id={their_video['id']}") == []


async def test_cancel_is_202_then_409_and_tells_listeners(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video, job = await ingesting_video(client, headers)
    redis = aioredis.from_url(settings.redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(events.channel(job["id"]))
    try:
        first = await client.post(f"/v1/jobs/{job['id']}/cancel", headers=headers)
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message:
                break
        second = await client.post(f"/v1/jobs/{job['id']}/cancel", headers=headers)
    finally:
        await pubsub.aclose()
        await redis.aclose()

    assert first.status_code == 202, first.text
    assert first.json()["status"] == "canceled"
    assert first.json()["finished_at"] is not None
    assert second.status_code == 409
    assert message is not None
    event = events.decode_event(message["data"])
    assert event.event == "status"
    assert msgspec.convert(event.data, dict)["status"] == "canceled"
    # A canceled ingest will never finish the video, so the video says why it failed.
    body = (await client.get(f"/v1/videos/{video['id']}", headers=headers)).json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "canceled"


async def test_cancel_of_a_succeeded_job_is_409(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    _, job = await ingesting_video(client, headers)
    await _finish(settings, job["id"], "succeeded")
    response = await client.post(f"/v1/jobs/{job['id']}/cancel", headers=headers)
    assert response.status_code == 409
    assert "succeeded" in response.json()["detail"]


async def test_concurrent_cancels_cancel_once(live: httpx.AsyncClient) -> None:
    headers = await signup(live)
    _, job = await ingesting_video(live, headers)
    answers = await asyncio.gather(
        *(live.post(f"/v1/jobs/{job['id']}/cancel", headers=headers) for _ in range(4))
    )
    assert sorted(a.status_code for a in answers) == [202, 409, 409, 409]
