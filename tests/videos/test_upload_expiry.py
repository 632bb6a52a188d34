"""Videos left awaiting_upload expire once their upload URLs have long run out: failed with
upload_expired, their multipart upload aborted and whatever was uploaded deleted."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.testing import AsyncTestClient

from roto.resources import Resources
from roto.settings import MiB
from roto.videos.expiry import expire_uploads, expires_after_s
from tests.videos.helpers import announce, put_file


async def backdate(resources: Resources, video_id: str, seconds: float) -> None:
    await resources.pool.execute(
        "UPDATE videos SET created_at = now() - make_interval(secs => $2) WHERE id = $1",
        uuid.UUID(video_id),
        seconds,
    )


async def test_videos_never_uploaded_expire_and_their_uploads_go(
    client: AsyncTestClient, headers: dict[str, str], resources: Resources, s3_sync: Any
) -> None:
    bucket = resources.settings.s3_bucket
    single = await announce(client, headers, 5)
    await put_file(single["upload"], b"12345")  # uploaded, never completed
    multi = await announce(client, headers, 100 * MiB)
    fresh = await announce(client, headers, 5)
    late = expires_after_s(resources) + 1
    for created in (single, multi):
        await backdate(resources, created["video"]["id"], late)

    assert await expire_uploads(resources) == 2
    assert await expire_uploads(resources) == 0

    statuses = {}
    for created in (single, multi, fresh):
        video = (await client.get(f"/v1/videos/{created['video']['id']}", headers=headers)).json()
        statuses[created["video"]["id"]] = (video["status"], (video["error"] or {}).get("code"))
    assert statuses == {
        single["video"]["id"]: ("failed", "upload_expired"),
        multi["video"]["id"]: ("failed", "upload_expired"),
        fresh["video"]["id"]: ("awaiting_upload", None),
    }
    single_id, multi_id = single["video"]["id"], multi["video"]["id"]
    assert s3_sync.list_objects_v2(Bucket=bucket, Prefix=f"videos/{single_id}/")["KeyCount"] == 0
    uploads = s3_sync.list_multipart_uploads(Bucket=bucket, Prefix=f"videos/{multi_id}/")
    assert uploads.get("Uploads", []) == []
    too_late = await client.post(
        f"/v1/videos/{single_id}/upload-complete", json={}, headers=headers
    )
    assert too_late.status_code == 409
