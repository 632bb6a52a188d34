"""What one user may hold open at once: event streams and prompts waiting for their mask. One
more answers 429 with Retry-After, and nothing is created for it."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest

from roto.settings import Settings
from tests.factories import signup
from tests.jobs.test_events import EventReader
from tests.objects.helpers import click, count_rows, video_with_object
from tests.videos.helpers import ingesting_video


@pytest.mark.parametrize("settings", [{"max_event_streams_per_user": 2}], indirect=True)
async def test_event_streams_past_the_cap_are_429_until_one_closes(
    live: httpx.AsyncClient,
) -> None:
    headers, other = await signup(live), await signup(live)
    _, job = await ingesting_video(live, headers)
    _, others_job = await ingesting_video(live, other)
    url = f"/v1/jobs/{job['id']}/events"

    readers = []  # kept: a reader let go of closes its stream
    async with contextlib.AsyncExitStack() as streams:
        for _ in range(2):
            opened = await streams.enter_async_context(live.stream("GET", url, headers=headers))
            assert opened.status_code == 200
            readers.append(EventReader(opened))
            assert (await readers[-1].next() or ("", {}))[0] == "status"
        refused = await asyncio.wait_for(live.get(url, headers=headers), 10)
        async with live.stream(
            "GET", f"/v1/jobs/{others_job['id']}/events", headers=other
        ) as others:
            others_status = others.status_code

    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["retry-after"]) >= 1
    assert "event streams" in refused.json()["detail"]
    assert others_status == 200
    # Both closed: the server notices and frees their slots.
    deadline = time.monotonic() + 10
    while True:
        async with live.stream("GET", url, headers=headers) as again:
            if again.status_code == 200:
                break
        assert time.monotonic() < deadline, "the closed streams never freed their slots"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("settings", [{"max_prompt_waits_per_user": 1}], indirect=True)
async def test_prompt_waits_past_the_cap_are_429_and_queue_nothing(
    live: httpx.AsyncClient, settings: Settings
) -> None:
    headers = await signup(live)
    video_id = await video_with_object(live, headers, settings)
    url = f"/v1/videos/{video_id}/prompts"
    # No daemon runs: the first prompt waits its whole 3 s.
    waiting = asyncio.create_task(
        live.post(url, params={"wait": 3}, json=click(1, 0, 5, 5), headers=headers)
    )
    deadline = time.monotonic() + 10
    while await count_rows(settings, "jobs", video_id) == 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    refused = await live.post(url, params={"wait": 3}, json=click(1, 1, 5, 5), headers=headers)
    at_once = await live.post(url, params={"wait": 0}, json=click(1, 2, 5, 5), headers=headers)
    first = await waiting
    after = await live.post(url, params={"wait": 0.1}, json=click(1, 3, 5, 5), headers=headers)

    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "1"
    assert "waiting prompts" in refused.json()["detail"]
    assert (first.status_code, at_once.status_code, after.status_code) == (202, 202, 202)
    assert await count_rows(settings, "jobs", video_id) == 3  # none for the refused one
