"""Every endpoint with a video or job id answers 404 to another user and 401 to nobody."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from roto.settings import Settings
from tests.videos.helpers import ingesting_video, make_ready


def _requests(video_id: str, job_id: str) -> list[tuple[str, str, dict[str, object] | None]]:
    return [
        ("GET", f"/v1/videos/{video_id}", None),
        ("DELETE", f"/v1/videos/{video_id}", None),
        ("POST", f"/v1/videos/{video_id}/upload-complete", {}),
        ("GET", f"/v1/videos/{video_id}/frames/0", None),
        ("GET", f"/v1/jobs/{job_id}", None),
        ("POST", f"/v1/jobs/{job_id}/cancel", None),
        ("GET", f"/v1/jobs/{job_id}/events", None),
    ]


async def test_another_users_video_and_job_are_404_everywhere(
    client: AsyncTestClient,
    headers: dict[str, str],
    other_headers: dict[str, str],
    settings: Settings,
) -> None:
    video, job = await ingesting_video(client, headers)
    await make_ready(settings, video["id"], frame_count=2)
    answers = {}
    for method, path, body in _requests(video["id"], job["id"]):
        response = await client.request(method, path, json=body, headers=other_headers)
        answers[f"{method} {path}"] = response.status_code
    assert set(answers.values()) == {404}, answers

    assert (await client.get(f"/v1/videos/{video['id']}", headers=headers)).status_code == 200
    still = await client.get(f"/v1/jobs/{job['id']}", headers=headers)
    assert still.json()["status"] == "queued"


async def test_every_video_and_job_endpoint_needs_credentials(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    video, job = await ingesting_video(client, headers)
    requests = [
        *_requests(video["id"], job["id"]),
        ("GET", "/v1/videos", None),
        ("POST", "/v1/videos", {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1}),
        ("GET", "/v1/jobs", None),
    ]
    answers = {}
    for method, path, body in requests:
        response = await client.request(method, path, json=body)
        answers[f"{method} {path}"] = response.status_code
    assert set(answers.values()) == {401}, answers
