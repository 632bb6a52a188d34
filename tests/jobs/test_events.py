"""The job event stream: current status first, live events, the terminal status, then the end.

These tests read the stream as it is written, from the app behind a real server (``live``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from roto.devstack.services import free_port
from roto.jobs import events
from roto.jobs import repository as jobs_repo
from roto.settings import Settings
from tests.factories import signup
from tests.videos.helpers import connect, ingesting_video

# A resync this slow cannot end a test's stream: only the pub/sub path can.
PUBSUB_ONLY = {"sse_resync_interval_s": 120.0}


class EventReader:
    """Reads one server-sent event stream block by block."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines: AsyncIterator[str] = response.aiter_lines()

    async def next(self, timeout_s: float = 10.0) -> tuple[str, Any] | None:
        """The next (event, data), ("comment", text) for a comment, or None at the end."""
        return await asyncio.wait_for(self._next(), timeout=timeout_s)

    async def _next(self) -> tuple[str, Any] | None:
        fields: dict[str, str] = {}
        comment = None
        async for line in self._lines:
            if not line:
                if fields or comment is not None:
                    break
                continue
            if line.startswith(":"):
                comment = line[1:].strip()
            else:
                name, _, value = line.partition(": ")
                fields[name] = value
        else:
            if not fields and comment is None:
                return None
        if "event" in fields:
            return fields["event"], json.loads(fields["data"])
        return "comment", comment

    async def rest(self, timeout_s: float = 20.0) -> list[tuple[str, Any]]:
        """Every event until the server ends the stream."""
        events_seen = []
        while (event := await self.next(timeout_s)) is not None:
            events_seen.append(event)
        return events_seen


async def _finish(settings: Settings, job_id: str, *, publish: bool) -> None:
    """Do what a worker does at the end of a job: store the result, then tell listeners."""
    conn = await connect(settings)
    try:
        job = await jobs_repo.finish_job(conn, uuid.UUID(job_id), "succeeded", result={"ok": 1})
    finally:
        await conn.close()
    assert job is not None
    if publish:
        redis = aioredis.from_url(settings.redis_url)
        try:
            await events.publish_status(redis, job.to_wire())
        finally:
            await redis.aclose()


async def _progress(settings: Settings, job_id: str, done: int, total: int) -> None:
    redis = aioredis.from_url(settings.redis_url)
    try:
        await events.publish_progress(redis, job_id, done, total)
    finally:
        await redis.aclose()


async def _numsub(settings: Settings, job_id: str) -> int:
    redis = aioredis.from_url(settings.redis_url)
    try:
        [(_, count)] = await redis.pubsub_numsub(events.channel(job_id))
    finally:
        await redis.aclose()
    return int(count)


@pytest.mark.parametrize("settings", [PUBSUB_ONLY], indirect=True)
async def test_stream_sends_status_then_live_events_then_ends_after_terminal_status(
    live: httpx.AsyncClient, settings: Settings
) -> None:
    headers = await signup(live)
    _, job = await ingesting_video(live, headers)
    async with live.stream("GET", f"/v1/jobs/{job['id']}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = EventReader(response)
        first = await reader.next()
        assert first is not None and first[0] == "status"
        assert (first[1]["id"], first[1]["status"]) == (job["id"], "queued")

        await _progress(settings, job["id"], 3, 10)
        assert await reader.next() == ("progress", {"done": 3, "total": 10})
        await _finish(settings, job["id"], publish=True)
        rest = [event for event in await reader.rest() if event[0] != "comment"]

    assert [name for name, _ in rest] == ["status"]
    assert rest[0][1]["status"] == "succeeded"
    assert rest[0][1]["result"] == {"ok": 1}
    assert await _numsub(settings, job["id"]) == 0


async def test_stream_of_a_finished_job_sends_its_status_and_ends(
    live: httpx.AsyncClient,
) -> None:
    headers = await signup(live)
    _, job = await ingesting_video(live, headers)
    await live.post(f"/v1/jobs/{job['id']}/cancel", headers=headers)

    async with live.stream("GET", f"/v1/jobs/{job['id']}/events", headers=headers) as response:
        got = await EventReader(response).rest(timeout_s=10)

    assert [(name, data["status"]) for name, data in got] == [("status", "canceled")]


@pytest.mark.parametrize("settings", [{"sse_resync_interval_s": 0.3}], indirect=True)
async def test_stream_ends_on_a_terminal_status_it_missed_on_pubsub(
    live: httpx.AsyncClient, settings: Settings
) -> None:
    headers = await signup(live)
    _, job = await ingesting_video(live, headers)
    async with live.stream("GET", f"/v1/jobs/{job['id']}/events", headers=headers) as response:
        reader = EventReader(response)
        assert (await reader.next() or ("", {}))[1]["status"] == "queued"
        await _finish(settings, job["id"], publish=False)
        rest = await reader.rest()

    assert [(name, data["status"]) for name, data in rest] == [("status", "succeeded")]


@pytest.mark.parametrize("settings", [{**PUBSUB_ONLY, "sse_ping_interval_s": 0.2}], indirect=True)
async def test_idle_stream_sends_pings(live: httpx.AsyncClient, settings: Settings) -> None:
    headers = await signup(live)
    _, job = await ingesting_video(live, headers)
    async with live.stream("GET", f"/v1/jobs/{job['id']}/events", headers=headers) as response:
        reader = EventReader(response)
        await reader.next()
        pings = [await reader.next(timeout_s=2) for _ in range(3)]
        await _finish(settings, job["id"], publish=True)
        rest = await reader.rest()

    assert pings == [("comment", "ping")] * 3
    assert [name for name, _ in rest if name != "comment"] == ["status"]


async def test_client_hanging_up_releases_the_subscription(
    live: httpx.AsyncClient, settings: Settings
) -> None:
    headers = await signup(live)
    _, job = await ingesting_video(live, headers)
    async with live.stream("GET", f"/v1/jobs/{job['id']}/events", headers=headers) as response:
        reader = EventReader(response)  # kept: dropping it would close the stream early
        assert await reader.next() is not None
        assert await _numsub(settings, job["id"]) == 1

    for _ in range(50):
        if await _numsub(settings, job["id"]) == 0:
            break
        await asyncio.sleep(0.1)
    assert await _numsub(settings, job["id"]) == 0


@pytest.mark.parametrize(
    "settings",
    [{"redis_url": f"redis://127.0.0.1:{free_port()}/0", "sse_resync_interval_s": 0.3}],
    indirect=True,
)
async def test_stream_works_from_postgres_alone_when_redis_is_down(
    live: httpx.AsyncClient, settings: Settings
) -> None:
    headers = await signup(live)
    _, job = await ingesting_video(live, headers)
    async with live.stream("GET", f"/v1/jobs/{job['id']}/events", headers=headers) as response:
        reader = EventReader(response)
        assert (await reader.next() or ("", {}))[1]["status"] == "queued"
        await _finish(settings, job["id"], publish=False)
        rest = await reader.rest()

    assert [(name, data["status"]) for name, data in rest] == [("status", "succeeded")]
