"""Listing, reading and deleting videos, and serving their frames."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from roto.settings import Settings
from roto.videos.storage import frame_key, proxy_frame_key, source_key
from tests.videos.helpers import announce, connect, ingesting_video, make_ready, uploaded_video


async def test_list_pages_through_every_video_once(
    client: AsyncTestClient, headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    created = [(await announce(client, headers, 10 + i))["video"]["id"] for i in range(5)]
    await announce(client, other_headers, 10)
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/videos", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))


async def test_list_defaults_to_twenty_newest_first(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    first = (await announce(client, headers, 1))["video"]["id"]
    second = (await announce(client, headers, 2))["video"]["id"]
    response = await client.get("/v1/videos", headers=headers)
    assert response.status_code == 200
    assert [v["id"] for v in response.json()["items"]] == [second, first]
    assert response.json()["next_cursor"] is None


async def test_get_returns_the_video_wire_shape(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    video = (await announce(client, headers, 77))["video"]
    response = await client.get(f"/v1/videos/{video['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json() == video
    assert set(video) == {
        "id", "filename", "status", "size_bytes", "width", "height", "fps", "frame_count",
        "duration_s", "codec", "timecode", "error", "created_at",
    }  # fmt: skip


async def test_non_uuid_video_id_is_404(client: AsyncTestClient, headers: dict[str, str]) -> None:
    response = await client.get("/v1/videos/not-a-uuid", headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_videos_require_auth(client: AsyncTestClient) -> None:
    assert (await client.get("/v1/videos")).status_code == 401
    response = await client.post(
        "/v1/videos", json={"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1}
    )
    assert response.status_code == 401


async def test_delete_removes_objects_row_and_jobs(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, s3_sync: Any
) -> None:
    video, job = await ingesting_video(client, headers)
    for index in range(3):
        s3_sync.put_object(Bucket=settings.s3_bucket, Key=frame_key(video["id"], index), Body=b"j")
    bystander = await uploaded_video(client, headers)

    response = await client.delete(f"/v1/videos/{video['id']}", headers=headers)

    assert response.status_code == 204
    listing = s3_sync.list_objects_v2(Bucket=settings.s3_bucket, Prefix=f"videos/{video['id']}/")
    assert listing.get("KeyCount", 0) == 0
    assert (await client.get(f"/v1/videos/{video['id']}", headers=headers)).status_code == 404
    assert (await client.get(f"/v1/jobs/{job['id']}", headers=headers)).status_code == 404
    kept = s3_sync.head_object(Bucket=settings.s3_bucket, Key=source_key(bystander["id"]))
    assert kept["ContentLength"] > 0


async def test_delete_aborts_an_open_multipart_upload(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, s3_sync: Any
) -> None:
    created = await announce(client, headers, settings.multipart_threshold_bytes + 1)
    upload_id = created["upload"]["upload_id"]
    response = await client.delete(f"/v1/videos/{created['video']['id']}", headers=headers)
    assert response.status_code == 204
    open_uploads = s3_sync.list_multipart_uploads(Bucket=settings.s3_bucket).get("Uploads", [])
    assert upload_id not in [u["UploadId"] for u in open_uploads]


async def test_delete_keeps_the_row_when_storage_fails(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, s3_sync: Any
) -> None:
    video = await uploaded_video(client, headers)
    # Without its bucket, every S3 call of the delete fails: the video must survive for a retry.
    s3_sync.delete_object(Bucket=settings.s3_bucket, Key=source_key(video["id"]))
    s3_sync.delete_bucket(Bucket=settings.s3_bucket)

    response = await client.delete(f"/v1/videos/{video['id']}", headers=headers)

    assert response.status_code == 503
    assert (await client.get(f"/v1/videos/{video['id']}", headers=headers)).status_code == 200


async def test_frame_redirects_to_the_stored_jpeg(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, s3_sync: Any
) -> None:
    video, _ = await ingesting_video(client, headers)
    await make_ready(settings, video["id"], frame_count=3)
    jpeg = b"\xff\xd8\xff\xe0 frame two \xff\xd9"
    s3_sync.put_object(
        Bucket=settings.s3_bucket, Key=frame_key(video["id"], 2), Body=jpeg,
        ContentType="image/jpeg",
    )  # fmt: skip

    response = await client.get(
        f"/v1/videos/{video['id']}/frames/2", headers=headers, follow_redirects=False
    )

    assert response.status_code == 307
    async with httpx.AsyncClient() as http:
        stored = await http.get(response.headers["location"])
    assert stored.status_code == 200
    assert stored.content == jpeg


async def test_proxy_size_redirects_to_the_proxy_when_ingest_made_one(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, s3_sync: Any
) -> None:
    video, _ = await ingesting_video(client, headers)
    await make_ready(settings, video["id"], frame_count=3)
    bucket = settings.s3_bucket
    s3_sync.put_object(Bucket=bucket, Key=frame_key(video["id"], 1), Body=b"full")
    s3_sync.put_object(Bucket=bucket, Key=proxy_frame_key(video["id"], 1), Body=b"proxy")
    url = f"/v1/videos/{video['id']}/frames/1"

    async def served(**params: str) -> bytes:
        response = await client.get(url, params=params, headers=headers, follow_redirects=False)
        assert response.status_code == 307, response.text
        async with httpx.AsyncClient() as http:
            return (await http.get(response.headers["location"])).content

    # Ingested without proxies (or no larger than one): the full frame serves as its proxy.
    assert await served(size="proxy") == b"full"
    conn = await connect(settings)
    try:
        await conn.execute(
            "UPDATE videos SET proxy_frames = true WHERE id = $1", uuid.UUID(video["id"])
        )
    finally:
        await conn.close()
    assert await served(size="proxy") == b"proxy"
    assert await served() == b"full"
    assert await served(size="full") == b"full"
    response = await client.get(url, params={"size": "huge"}, headers=headers)
    assert response.status_code == 400 and "size" in response.text


async def test_frame_past_the_end_is_404_naming_the_frame(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video, _ = await ingesting_video(client, headers)
    await make_ready(settings, video["id"], frame_count=3)
    for index in ("3", "-1", "99999999"):
        response = await client.get(f"/v1/videos/{video['id']}/frames/{index}", headers=headers)
        assert response.status_code == 404, (index, response.text)
        assert "frame" in response.json()["detail"]


async def test_frame_of_a_video_not_ready_is_409(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    video, _ = await ingesting_video(client, headers)
    response = await client.get(f"/v1/videos/{video['id']}/frames/0", headers=headers)
    assert response.status_code == 409


async def test_ready_video_shows_its_probe_results(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video, _ = await ingesting_video(client, headers)
    await make_ready(settings, video["id"], frame_count=48)
    body = (await client.get(f"/v1/videos/{video['id']}", headers=headers)).json()
    assert (body["status"], body["frame_count"], body["width"], body["fps"]) == (
        "ready", 48, 160, 24.0,
    )  # fmt: skip
    assert body["duration_s"] == 2.0


async def test_failed_video_shows_its_error(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video, _ = await ingesting_video(client, headers)
    conn = await connect(settings)
    try:
        await conn.execute(
            "UPDATE videos SET status = 'failed', error_code = 'not_a_video', "
            "error_message = 'no video stream' WHERE id = $1",
            uuid.UUID(video["id"]),
        )
    finally:
        await conn.close()
    body = (await client.get(f"/v1/videos/{video['id']}", headers=headers)).json()
    assert body["status"] == "failed"
    assert body["error"] == {"code": "not_a_video", "message": "no video stream"}
