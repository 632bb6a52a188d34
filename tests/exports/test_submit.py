"""POST /v1/videos/{id}/exports: an export job on the media queue with its payload resolved,
Idempotency-Key, and every bad input answered 4xx naming its field, with nothing created."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from roto.settings import Settings
from tests.exports.helpers import (
    FRAMES,
    ExportVideo,
    masked_video,
    ready_video,
    store_masks,
    submit,
)
from tests.objects.helpers import count_rows, fetch_value, new_object
from tests.videos.helpers import announce, receive_job_messages


async def payload_of(settings: Settings, job_id: str) -> dict[str, Any]:
    value = await fetch_value(settings, "SELECT payload FROM jobs WHERE id = $1", uuid.UUID(job_id))
    assert isinstance(value, dict)
    return value


async def test_export_is_an_export_job_on_the_media_queue(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    s3_sync: Any,
    sqs_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    response = await client.post(
        f"/v1/videos/{video.id}/exports", json={"format": "png_sequence"}, headers=headers
    )
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    assert (job["type"], job["status"], job["video_id"]) == ("export", "queued", video.id)
    assert job["progress"] == {"done": 0, "total": FRAMES}
    assert await payload_of(settings, job["id"]) == {
        "video_id": video.id,
        "format": "png_sequence",
        "object_ids": [1, 2],
        "frame_start": 0,
        "frame_end": FRAMES - 1,
        "start_number": 0,
        "bit_depth": None,
        "matte": None,
        "dataset": None,
    }
    messages = await receive_job_messages(sqs_sync, settings.queue_names["media"], expect=1)
    assert [(m.job_id, m.type) for m in messages] == [(job["id"], "export")]


async def test_matte_and_dataset_go_into_the_jobs_payload(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    matte = {"grow_px": -3, "feather_px": 2, "smooth_frames": 1, "soft_edges": "guided"}
    job = await submit(client, headers, video.id, format="rgba_png_sequence", matte=matte)
    payload = await payload_of(settings, job["id"])
    assert payload["matte"] == {**matte, "fill_holes_px": 0, "remove_islands_px": 0}
    assert payload["bit_depth"] is None
    dataset = {"frame_step": 3, "splits": {"train": 0.8, "val": 0.2}}
    job = await submit(client, headers, video.id, format="yolo_seg", dataset=dataset)
    assert (await payload_of(settings, job["id"]))["dataset"] == {**dataset, "include_frames": True}


async def test_null_object_ids_take_only_objects_with_masks(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    await new_object(client, headers, video.id, name="Bare")  # id 3, no masks
    body = {"format": "yolo_seg", "object_ids": None, "frame_start": 2, "frame_end": 5}
    response = await client.post(f"/v1/videos/{video.id}/exports", json=body, headers=headers)
    assert response.status_code == 202, response.text
    payload = await payload_of(settings, response.json()["job"]["id"])
    assert (payload["object_ids"], payload["frame_start"], payload["frame_end"]) == ([1, 2], 2, 5)
    assert response.json()["job"]["progress"]["total"] == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "format"),
        ({"format": "gif"}, "format"),
        ({"format": "png_sequence", "extra": 1}, "extra"),
        ({"format": "png_sequence", "bit_depth": 12}, "bit_depth"),
        ({"format": "png_sequence", "bit_depth": "16"}, "bit_depth"),
        ({"format": "png_sequence", "frame_start": -1}, "frame_start"),
        ({"format": "png_sequence", "frame_end": 2.5}, "frame_end"),
        ({"format": "png_sequence", "start_number": -1}, "start_number"),
        ({"format": "png_sequence", "object_ids": "1"}, "object_ids"),
        ({"format": "png_sequence", "object_ids": [1, "2"]}, "object_ids[1]"),
        ({"format": "png_sequence", "matte": {"grow_px": 65}}, "matte.grow_px"),
        ({"format": "png_sequence", "matte": {"feather_px": -1}}, "matte.feather_px"),
        ({"format": "png_sequence", "matte": {"smooth_frames": 5}}, "matte.smooth_frames"),
        ({"format": "png_sequence", "matte": {"soft_edges": "blur"}}, "matte.soft_edges"),
        ({"format": "png_sequence", "matte": {"blur": 1}}, "blur"),
        ({"format": "coco_json", "dataset": {"frame_step": 0}}, "dataset.frame_step"),
        ({"format": "coco_json", "dataset": {"splits": {"holdout": 1.0}}}, "dataset.splits"),
        ({"format": "coco_json", "dataset": {"splits": {"train": 0}}}, "dataset.splits"),
    ],
)
async def test_malformed_bodies_are_400_naming_the_field(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    body: dict[str, Any],
    field: str,
) -> None:
    # The body is checked before the video: any video of the caller will do.
    video_id = (await announce(client, headers, 1000))["video"]["id"]
    response = await client.post(f"/v1/videos/{video_id}/exports", json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.json()["detail"]
    assert await count_rows(settings, "jobs", video_id) == 0


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"object_ids": []}, "object_ids", "at least one"),
        ({"object_ids": [1, 1]}, "object_ids", "more than once"),
        ({"object_ids": [1, 9]}, "object_ids", "no object 9"),
        ({"object_ids": [3]}, "object_ids", "object 3 has no masks"),
        ({"frame_start": FRAMES}, "frame_start", f"0..{FRAMES - 1}"),
        ({"frame_end": FRAMES + 5}, "frame_end", f"0..{FRAMES - 1}"),
        ({"frame_start": 6, "frame_end": 5}, "frame_end", "before frame_start"),
        ({"object_ids": [2], "frame_start": 9}, "frame_start", "no mask in frames 9..11"),
        ({"format": "exr_sequence", "bit_depth": 16}, "bit_depth", "no 16-bit variant"),
        ({"format": "overlay_mp4", "matte": {"grow_px": 2}}, "matte", "writes no matte"),
        ({"format": "png_sequence", "dataset": {}}, "dataset", "not a dataset"),
        (
            {"format": "yolo_seg", "dataset": {"splits": {"val": 1.0}}},
            "dataset.splits",
            "train share",
        ),
        (
            {"format": "coco_json", "dataset": {"splits": {"train": 0.7, "val": 0.2}}},
            "dataset.splits",
            "sum to 1, not 0.9",
        ),
    ],
)
async def test_impossible_exports_are_422_naming_the_field(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    s3_sync: Any,
    tmp_path: Path,
    body: dict[str, Any],
    field: str,
    words: str,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    await new_object(client, headers, video.id, name="Bare")  # id 3, no masks
    response = await client.post(
        f"/v1/videos/{video.id}/exports", json={"format": "png_sequence", **body}, headers=headers
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"{field}:") and words in detail, detail
    assert response.json()["errors"][0]["key"] == field
    assert await count_rows(settings, "jobs", video.id) == 0


async def test_video_without_masks_is_422(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await ready_video(client, headers, settings, s3_sync, tmp_path)
    await new_object(client, headers, video.id)
    response = await client.post(
        f"/v1/videos/{video.id}/exports", json={"format": "coco_json"}, headers=headers
    )
    assert response.status_code == 422, response.text
    assert "no masks yet" in response.json()["detail"]
    assert await count_rows(settings, "jobs", video.id) == 0


async def test_video_not_ready_is_409_and_another_users_video_is_404(
    client: AsyncTestClient,
    headers: dict[str, str],
    other_headers: dict[str, str],
    settings: Settings,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    waiting = (await announce(client, headers, 1000))["video"]["id"]
    response = await client.post(
        f"/v1/videos/{waiting}/exports", json={"format": "png_sequence"}, headers=headers
    )
    assert response.status_code == 409, response.text
    assert "not ready" in response.json()["detail"]

    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    for video_id in (video.id, str(uuid.uuid4())):
        response = await client.post(
            f"/v1/videos/{video_id}/exports", json={"format": "png_sequence"}, headers=other_headers
        )
        assert response.status_code == 404, response.text
    assert await count_rows(settings, "jobs", video.id) == 0


async def test_idempotency_key_answers_the_first_job(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    keyed = {**headers, "Idempotency-Key": "export-once"}
    url = f"/v1/videos/{video.id}/exports"
    first = await client.post(url, json={"format": "png_sequence"}, headers=keyed)
    again = await client.post(url, json={"format": "png_sequence"}, headers=keyed)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["job"]["id"] == again.json()["job"]["id"]
    assert await count_rows(settings, "jobs", video.id) == 1
    other = await client.post(
        f"/v1/videos/{video.id}/propagations", json={"direction": "forward"}, headers=keyed
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]


async def test_unmasked_object_among_masked_ones_is_refused_whole(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video: ExportVideo = await ready_video(client, headers, settings, s3_sync, tmp_path)
    await new_object(client, headers, video.id)
    await new_object(client, headers, video.id)
    await store_masks(settings, s3_sync, video, 1, [0, 1])
    response = await client.post(
        f"/v1/videos/{video.id}/exports",
        json={"format": "png_sequence", "object_ids": [1, 2]},
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert "object 2 has no masks" in response.json()["detail"]
