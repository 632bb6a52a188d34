"""The wait of POST /prompts: 200 when the mask comes in time, else 202; Idempotency-Key.

The daemon step is played by ``tests.objects.fake_daemon`` (a stand-in, not SAM2); the real
daemon's end-to-end tests are in tests/gpu/.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from roto.devstack.services import free_port
from roto.objects import prompts_service
from roto.settings import Settings
from tests.conftest import Services
from tests.objects.fake_daemon import fake_daemon
from tests.objects.helpers import (
    HEIGHT,
    WIDTH,
    click,
    count_rows,
    video_with_object,
)


async def test_the_terminal_event_ends_the_wait_without_rereading_postgres(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With no re-read before the 20 s wait ends, only the Redis event can answer early.
    monkeypatch.setattr(prompts_service, "WAIT_RESYNC_S", 600.0)
    video_id = await video_with_object(client, headers, settings)
    started = time.monotonic()
    async with fake_daemon(settings, sqs_sync, s3_sync):
        response = await client.post(
            f"/v1/videos/{video_id}/prompts",
            params={"wait": 20},
            json=click(1, 0, 5, 5),
            headers=headers,
        )

    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 10


async def test_wait_zero_answers_202_at_once(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await video_with_object(client, headers, settings)
    started = time.monotonic()
    response = await client.post(
        f"/v1/videos/{video_id}/prompts",
        params={"wait": 0},
        json=click(1, 0, 5, 5),
        headers=headers,
    )

    assert time.monotonic() - started < 2
    assert response.status_code == 202, response.text
    assert set(response.json()) == {"job", "prompt"}
    assert response.json()["job"]["status"] == "queued"


async def test_a_job_nobody_answers_is_202_after_the_wait(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await video_with_object(client, headers, settings)
    started = time.monotonic()
    response = await client.post(
        f"/v1/videos/{video_id}/prompts",
        params={"wait": 1.5},
        json=click(1, 0, 5, 5),
        headers=headers,
    )

    assert 1.5 <= time.monotonic() - started < 5
    assert response.status_code == 202, response.text
    assert response.json()["job"]["status"] == "queued"


async def test_a_failed_segment_job_is_202_with_its_error(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await video_with_object(client, headers, settings)
    started = time.monotonic()
    async with fake_daemon(settings, sqs_sync, s3_sync, outcome="fail"):
        response = await client.post(
            f"/v1/videos/{video_id}/prompts",
            params={"wait": 20},
            json=click(1, 0, 5, 5),
            headers=headers,
        )

    assert time.monotonic() - started < 10  # the end of the job ended the wait
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    assert job["status"] == "failed"
    assert job["error"] == {"code": "bad_prompt", "message": "the stand-in refused it"}


async def test_idempotency_key_answers_the_same_job(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await video_with_object(client, headers, settings)
    keyed = {**headers, "Idempotency-Key": "click-1"}
    path = f"/v1/videos/{video_id}/prompts"
    first = await client.post(path, params={"wait": 0}, json=click(1, 0, 5, 5), headers=keyed)
    async with fake_daemon(settings, sqs_sync, s3_sync) as daemon:
        await daemon.wait_handled(1)
        again = await client.post(path, json=click(1, 0, 5, 5), headers=keyed)

    assert first.status_code == 202
    assert again.status_code == 200, again.text
    assert again.json()["job"]["id"] == first.json()["job"]["id"]
    assert again.json()["mask"]["frame_index"] == 0
    assert await count_rows(settings, "prompts", video_id) == 1
    assert await count_rows(settings, "jobs", video_id) == 1


async def test_idempotency_key_reused_on_another_video_is_422(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    first_video = await video_with_object(client, headers, settings)
    second_video = await video_with_object(client, headers, settings)
    keyed = {**headers, "Idempotency-Key": "same-key"}
    body = click(1, 0, 5, 5)
    await client.post(f"/v1/videos/{first_video}/prompts?wait=0", json=body, headers=keyed)
    response = await client.post(
        f"/v1/videos/{second_video}/prompts?wait=0", json=body, headers=keyed
    )

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert await count_rows(settings, "prompts", second_video) == 0


@pytest.mark.parametrize(
    "settings", [{"redis_url": f"redis://127.0.0.1:{free_port()}/0"}], indirect=True
)
async def test_the_wait_still_answers_200_from_postgres_when_redis_is_down(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    services: Services,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await video_with_object(client, headers, settings)
    async with fake_daemon(settings, sqs_sync, s3_sync, redis_url=services.redis.url):
        response = await client.post(
            f"/v1/videos/{video_id}/prompts", json=click(1, 0, 8, 8), headers=headers
        )

    assert response.status_code == 200, response.text
    assert response.json()["mask"]["rle"]["size"] == [HEIGHT, WIDTH]
