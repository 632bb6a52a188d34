"""The objects, prompts and masks endpoints answer 404 to another user and 401 to nobody."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from roto.settings import Settings
from tests.objects.fake_daemon import fake_daemon
from tests.objects.helpers import click, count_rows, new_object, ready_video


def _requests(video_id: str) -> list[tuple[str, str, Any]]:
    return [
        ("POST", f"/v1/videos/{video_id}/objects", {}),
        ("GET", f"/v1/videos/{video_id}/objects", None),
        ("DELETE", f"/v1/videos/{video_id}/objects/1", None),
        ("POST", f"/v1/videos/{video_id}/prompts?wait=0", click(1, 0, 5, 5)),
        ("GET", f"/v1/videos/{video_id}/masks", None),
        ("GET", f"/v1/videos/{video_id}/masks/0.png", None),
        ("GET", f"/v1/videos/{video_id}/masks/0.png?object_id=1", None),
    ]


async def test_another_users_video_is_404_on_every_object_and_mask_endpoint(
    client: AsyncTestClient,
    headers: dict[str, str],
    other_headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await ready_video(client, headers, settings)
    await new_object(client, headers, video_id)
    async with fake_daemon(settings, sqs_sync, s3_sync):
        made = await client.post(
            f"/v1/videos/{video_id}/prompts", json=click(1, 0, 5, 5), headers=headers
        )
    assert made.status_code == 200, made.text

    answers = {}
    for method, path, body in _requests(video_id):
        response = await client.request(method, path, json=body, headers=other_headers)
        answers[f"{method} {path}"] = response.status_code
    assert set(answers.values()) == {404}, answers

    assert await count_rows(settings, "objects", video_id) == 1
    assert await count_rows(settings, "prompts", video_id) == 1
    png = await client.get(f"/v1/videos/{video_id}/masks/0.png", headers=headers)
    assert png.status_code == 200


async def test_non_uuid_video_ids_are_404(client: AsyncTestClient, headers: dict[str, str]) -> None:
    answers = {}
    for method, path, body in _requests("not-a-uuid"):
        response = await client.request(method, path, json=body, headers=headers)
        answers[f"{method} {path}"] = response.status_code
    assert set(answers.values()) == {404}, answers


async def test_every_object_and_mask_endpoint_needs_credentials(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    answers = {}
    for method, path, body in _requests(video_id):
        response = await client.request(method, path, json=body)
        answers[f"{method} {path}"] = response.status_code
    assert set(answers.values()) == {401}, answers
