"""How an export job ends besides success: canceled or failed with its reason, never leaving a
half-written archive (the multipart upload is aborted); and where a finished archive lives."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from roto.exports import pipeline
from roto.exports.formats.base import Frame
from roto.exports.formats.sequences import PngMattes
from roto.masks.storage import object_masks_prefix
from roto.resources import Resources
from roto.settings import Settings
from roto.videos.storage import export_prefix, frame_key, source_key, video_prefix
from roto.worker.registry import build_role
from tests.exports.helpers import TERMINAL, export, finished_job, masked_video, submit
from tests.objects.helpers import s3_keys
from tests.worker.support import get_job, running_worker, wait_for, wait_for_status


def nothing_left(s3: Any, settings: Settings, video_id: str) -> None:
    """No archive and no open multipart upload under the video's exports."""
    prefix = export_prefix(video_id)
    assert s3_keys(s3, settings.s3_bucket, prefix) == []
    uploads = s3.list_multipart_uploads(Bucket=settings.s3_bucket, Prefix=prefix)
    assert uploads.get("Uploads", []) == []


async def test_download_url_serves_the_archive_by_name_over_http_and_goes_with_the_video(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path, stored_frames=True)
    job, archive = await export(client, headers, resources, video.id, format="yolo_seg")
    result = job["result"]
    assert set(result) == {"download_url", "expires_at", "filename", "size_bytes"}
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(result["download_url"])
    assert response.headers["content-disposition"] == f'attachment; filename="{result["filename"]}"'
    assert archive.testzip() is None
    keys = s3_keys(s3_sync, settings.s3_bucket, export_prefix(video.id))
    assert keys == [f"exports/{video.id}/{job['id']}/{result['filename']}"]

    assert (await client.delete(f"/v1/videos/{video.id}", headers=headers)).status_code == 204
    assert s3_keys(s3_sync, settings.s3_bucket, video_prefix(video.id)) == []
    assert s3_keys(s3_sync, settings.s3_bucket, export_prefix(video.id)) == []


class SlowPngMattes(PngMattes):
    """PNG mattes at a tenth of a second a frame, so that a test can cancel mid-export."""

    def add(self, frame: Frame) -> None:
        super().add(frame)
        time.sleep(0.1)


async def test_cancel_stops_the_export_and_leaves_no_archive(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(pipeline.WRITERS, "png_sequence", SlowPngMattes)
    video = await masked_video(client, headers, settings, s3_sync, tmp_path, frames=60)
    job_id = uuid.UUID((await submit(client, headers, video.id, format="png_sequence"))["id"])
    async with running_worker(resources, build_role("media")):

        async def under_way() -> bool:
            return (await get_job(resources, job_id)).progress_done > 0

        await wait_for(under_way, 30, "the export to report progress")
        response = await client.post(f"/v1/jobs/{job_id}/cancel", headers=headers)
        assert response.status_code == 202, response.text
        # Leaving the block drains the worker: the handler has stopped by then.
    done = await wait_for_status(resources, job_id, TERMINAL)
    assert done.status == "canceled"
    assert done.progress_done < 60
    nothing_left(s3_sync, settings, video.id)


async def test_a_mask_missing_from_storage_fails_the_job_naming_it(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    for key in s3_keys(s3_sync, settings.s3_bucket, object_masks_prefix(video.id, 2)):
        s3_sync.delete_object(Bucket=settings.s3_bucket, Key=key)
    job = await submit(client, headers, video.id, format="png_sequence")
    done = await finished_job(client, headers, resources, job["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "mask_unreadable"
    assert "object 2 on frame 2" in done["error"]["message"]
    nothing_left(s3_sync, settings, video.id)


async def test_a_frame_missing_from_storage_fails_a_dataset_naming_it(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path, stored_frames=True)
    s3_sync.delete_object(Bucket=settings.s3_bucket, Key=frame_key(video.id, 5))
    job = await submit(client, headers, video.id, format="coco_json")
    done = await finished_job(client, headers, resources, job["id"])
    assert (done["status"], done["error"]["code"]) == ("failed", "frame_missing")
    assert "frame 5" in done["error"]["message"]
    nothing_left(s3_sync, settings, video.id)


async def test_a_missing_source_fails_a_source_pixel_export(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    s3_sync.delete_object(Bucket=settings.s3_bucket, Key=source_key(video.id))
    job = await submit(client, headers, video.id, format="prores_4444")
    done = await finished_job(client, headers, resources, job["id"])
    assert (done["status"], done["error"]["code"]) == ("failed", "source_missing")
    nothing_left(s3_sync, settings, video.id)


async def test_an_object_deleted_after_submit_fails_the_job(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    job = await submit(client, headers, video.id, format="coco_json")
    response = await client.delete(f"/v1/videos/{video.id}/objects/2", headers=headers)
    assert response.status_code == 204
    done = await finished_job(client, headers, resources, job["id"])
    assert (done["status"], done["error"]["code"]) == ("failed", "object_deleted")
    assert "object 2" in done["error"]["message"]


async def test_an_expired_download_link_is_renewed_when_the_job_is_read(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    job, archive = await export(
        client, headers, resources, video.id, format="coco_json", dataset={"include_frames": False}
    )
    expired = {**job["result"], "download_url": "https://expired.invalid/x"}
    expired["expires_at"] = "2020-01-01T00:00:00.000Z"
    async with resources.pool.acquire() as conn:
        await conn.execute(
            "UPDATE jobs SET result = $2 WHERE id = $1", uuid.UUID(job["id"]), expired
        )

    read = (await client.get(f"/v1/jobs/{job['id']}", headers=headers)).json()["result"]
    listed = (await client.get("/v1/jobs?video_id=" + video.id, headers=headers)).json()
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(read["download_url"])

    assert read["expires_at"] > job["result"]["expires_at"] > expired["expires_at"]
    assert (read["filename"], read["size_bytes"]) == (expired["filename"], expired["size_bytes"])
    assert response.status_code == 200
    assert response.content == archive.fp.getvalue()  # type: ignore[union-attr]
    (mine,) = [item for item in listed["items"] if item["id"] == job["id"]]
    assert mine["result"]["download_url"].startswith(settings.aws_endpoint_url or "http")
    assert mine["result"]["expires_at"] > expired["expires_at"]


async def test_an_archive_written_before_the_export_prefix_is_still_served(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    job, archive = await export(client, headers, resources, video.id, format="png_sequence")
    name, bucket = job["result"]["filename"], settings.s3_bucket
    current = f"{export_prefix(video.id)}{job['id']}/{name}"
    legacy = f"{video_prefix(video.id)}exports/{job['id']}/{name}"
    s3_sync.copy_object(Bucket=bucket, Key=legacy, CopySource={"Bucket": bucket, "Key": current})
    s3_sync.delete_object(Bucket=bucket, Key=current)
    expired = {**job["result"], "expires_at": "2020-01-01T00:00:00.000Z"}
    async with resources.pool.acquire() as conn:
        await conn.execute(
            "UPDATE jobs SET result = $2 WHERE id = $1", uuid.UUID(job["id"]), expired
        )
    read = (await client.get(f"/v1/jobs/{job['id']}", headers=headers)).json()["result"]
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(read["download_url"])
    assert response.status_code == 200
    assert response.content == archive.fp.getvalue()  # type: ignore[union-attr]
