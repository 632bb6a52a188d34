"""Ingest through the real media worker runtime, on real PyAV videos, PostgreSQL, Redis and moto."""

from __future__ import annotations

import io
import uuid
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import JobMessage, encode_message
from roto.media.frame_pts import load_frame_pts
from roto.media.frames import decode_frames
from roto.resources import Resources
from roto.videos.storage import frame_key, video_prefix
from roto.worker.registry import build_role
from tests.media import make_audio_only, make_video
from tests.worker.support import (
    create_user,
    create_video,
    enqueue_job,
    get_job,
    job_events,
    queue_empty,
    running_worker,
    wait_for,
    wait_for_status,
)

TERMINAL = {"succeeded", "failed", "canceled"}


async def video_row(resources: Resources, video_id: uuid.UUID) -> dict[str, object]:
    record = await resources.pool.fetchrow(
        """SELECT status, width, height, fps, frame_count, duration_s, codec, error_code,
                  error_message FROM videos WHERE id = $1""",
        video_id,
    )
    assert record is not None
    return dict(record)


async def frame_keys(resources: Resources, video_id: uuid.UUID) -> list[str]:
    keys: list[str] = []
    pages = resources.s3.get_paginator("list_objects_v2").paginate(
        Bucket=resources.settings.s3_bucket, Prefix=f"{video_prefix(video_id)}frames/"
    )
    async for page in pages:
        keys += [item["Key"] for item in page.get("Contents", [])]
    return sorted(keys)


async def ingest(resources: Resources, data: bytes) -> tuple[uuid.UUID, uuid.UUID]:
    """Run an ingest job for ``data`` to its end; returns (video_id, job_id)."""
    user_id = await create_user(resources)
    video_id = await create_video(resources, user_id, data)
    job = await enqueue_job(
        resources, user_id, video_id=video_id, payload={"video_id": str(video_id)}
    )
    async with running_worker(resources, build_role("media")):
        await wait_for_status(resources, job.id, TERMINAL)
        await wait_for(lambda: queue_empty(resources), 10, "the message to be deleted")
    return video_id, job.id


async def test_ingest_records_exact_metadata_and_uploads_every_frame(
    resources: Resources, tmp_path: Path
) -> None:
    data = make_video(tmp_path / "clip.mp4", frames=30, width=160, height=96, fps=24).read_bytes()
    user_id = await create_user(resources)
    video_id = await create_video(resources, user_id, data)
    job = await enqueue_job(
        resources, user_id, video_id=video_id, payload={"video_id": str(video_id)}
    )
    async with (
        job_events(resources, job.id) as seen,
        running_worker(resources, build_role("media")),
    ):
        done = await wait_for_status(resources, job.id, TERMINAL)
        await wait_for(lambda: queue_empty(resources), 10, "the message to be deleted")

    assert done.status == "succeeded", done.error_message
    assert done.result is not None and done.result["frame_count"] == 30
    assert (done.progress_done, done.progress_total) == (30, 30)
    row = await video_row(resources, video_id)
    assert row == {
        "status": "ready",
        "width": 160,
        "height": 96,
        "fps": 24.0,
        "frame_count": 30,
        "duration_s": 1.25,
        "codec": "h264",
        "error_code": None,
        "error_message": None,
    }
    assert await frame_keys(resources, video_id) == [frame_key(video_id, i) for i in range(30)]
    # Each frame's timestamp, in frame order, for exports that seek to a late frame.
    stamps = await load_frame_pts(resources.s3, resources.settings.s3_bucket, video_id)
    assert stamps is not None
    assert stamps.tolist() == [pts for _, pts in decode_frames(tmp_path / "clip.mp4")]
    assert len(stamps) == 30 and (stamps[1:] > stamps[:-1]).all()
    obj = await resources.s3.get_object(
        Bucket=resources.settings.s3_bucket, Key=frame_key(video_id, 29)
    )
    assert obj["ContentType"] == "image/jpeg"
    image = Image.open(io.BytesIO(await obj["Body"].read()))
    assert (image.format, image.size) == ("JPEG", (160, 96))

    progress = seen.of_kind("progress")
    assert progress and progress[-1] == {"done": 30, "total": 30}
    assert [p["done"] for p in progress] == sorted(p["done"] for p in progress)
    assert [s["status"] for s in seen.of_kind("status")] == ["running", "succeeded"]


async def test_mkv_frame_count_comes_from_decoding(resources: Resources, tmp_path: Path) -> None:
    # Matroska stores no frame count: the total starts as duration x fps and ends exact.
    path = make_video(tmp_path / "clip.mkv", frames=37, fps=Fraction(30000, 1001))
    video_id, job_id = await ingest(resources, path.read_bytes())
    row = await video_row(resources, video_id)
    assert row["status"] == "ready", row
    assert row["frame_count"] == 37
    assert row["fps"] == pytest.approx(30000 / 1001)
    assert row["duration_s"] == pytest.approx(37 / (30000 / 1001))
    assert len(await frame_keys(resources, video_id)) == 37
    job = await wait_for_status(resources, job_id, TERMINAL)
    assert (job.progress_done, job.progress_total) == (37, 37)


async def test_garbage_bytes_fail_as_not_a_video(resources: Resources) -> None:
    video_id, job_id = await ingest(resources, b"this is not a video at all " * 200)
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "not_a_video")
    assert "not a readable video" in str(row["error_message"])
    job = await wait_for_status(resources, job_id, TERMINAL)
    assert (job.status, job.error_code, job.attempts) == ("failed", "not_a_video", 1)
    assert await frame_keys(resources, video_id) == []


async def test_audio_only_file_fails_as_no_video_stream(
    resources: Resources, tmp_path: Path
) -> None:
    data = make_audio_only(tmp_path / "sound.m4a").read_bytes()
    video_id, _ = await ingest(resources, data)
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "no_video_stream")
    assert "audio" in str(row["error_message"])


async def test_cut_mkv_fails_as_truncated(resources: Resources, tmp_path: Path) -> None:
    data = make_video(tmp_path / "clip.mkv", frames=120, width=320, height=240).read_bytes()
    video_id, _ = await ingest(resources, data[: len(data) // 2])
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "truncated")
    assert "of the 120 frames" in str(row["error_message"])
    # The frames extracted before the cut was found are removed again.
    assert await frame_keys(resources, video_id) == []


async def test_cut_mp4_fails_as_not_a_video(resources: Resources, tmp_path: Path) -> None:
    # An mp4 keeps its index at the end: cut, it cannot be opened at all.
    data = make_video(tmp_path / "clip.mp4", frames=60).read_bytes()
    video_id, _ = await ingest(resources, data[: len(data) // 2])
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "not_a_video")


@pytest.mark.parametrize(
    ("settings", "code", "words"),
    [
        ({"max_width": 100}, "resolution_too_large", ["160x96", "100x8192"]),
        ({"max_height": 64}, "resolution_too_large", ["160x96", "8192x64"]),
        ({"max_duration_s": 0.4}, "too_long", ["0.50 s", "0.4 s"]),
        ({"max_upload_bytes": 1000}, "too_large", ["1000 bytes"]),
    ],
    indirect=["settings"],
)
async def test_over_limit_video_fails_with_the_limit_and_the_value(
    resources: Resources, tmp_path: Path, code: str, words: list[str]
) -> None:
    data = make_video(tmp_path / "clip.mp4", frames=12, width=160, height=96, fps=24).read_bytes()
    video_id, _ = await ingest(resources, data)
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", code)
    for word in words:
        assert word in str(row["error_message"])
    if code == "too_large":
        assert f"{len(data)} bytes" in str(row["error_message"])
    assert await frame_keys(resources, video_id) == []


async def test_missing_source_fails_without_retry(resources: Resources) -> None:
    user_id = await create_user(resources)
    video_id = await create_video(resources, user_id, b"x")
    await resources.s3.delete_object(
        Bucket=resources.settings.s3_bucket, Key=f"{video_prefix(video_id)}source"
    )
    job = await enqueue_job(
        resources, user_id, video_id=video_id, payload={"video_id": str(video_id)}
    )
    async with running_worker(resources, build_role("media")):
        done = await wait_for_status(resources, job.id, TERMINAL)
    assert (done.status, done.error_code, done.attempts) == ("failed", "source_missing", 1)
    assert (await video_row(resources, video_id))["error_code"] == "source_missing"


async def test_duplicate_delivery_ends_with_one_result(
    resources: Resources, tmp_path: Path
) -> None:
    data = make_video(tmp_path / "clip.mp4", frames=48, width=160, height=96).read_bytes()
    user_id = await create_user(resources)
    video_id = await create_video(resources, user_id, data)
    job = await enqueue_job(
        resources, user_id, video_id=video_id, payload={"video_id": str(video_id)}
    )
    # SQS delivers at least once: the same message arrives a second time.
    body = encode_message(JobMessage(job_id=str(job.id), type="ingest", request_id=job.request_id))
    await resources.sqs.send_message(QueueUrl=resources.queue_urls["media"], MessageBody=body)
    async with (
        job_events(resources, job.id) as seen,
        running_worker(resources, build_role("media")),
    ):
        await wait_for(lambda: queue_empty(resources), 30, "both messages to be deleted")
    done = await wait_for_status(resources, job.id, TERMINAL)
    assert done.status == "succeeded"
    assert done.result is not None and done.result["frame_count"] == 48
    assert [s["status"] for s in seen.of_kind("status")].count("succeeded") == 1
    row = await video_row(resources, video_id)
    assert (row["status"], row["frame_count"]) == ("ready", 48)
    assert await frame_keys(resources, video_id) == [frame_key(video_id, i) for i in range(48)]


async def test_canceled_ingest_is_not_run_and_the_video_fails_as_canceled(
    resources: Resources, tmp_path: Path
) -> None:
    data = make_video(tmp_path / "clip.mp4", frames=12).read_bytes()
    user_id = await create_user(resources)
    video_id = await create_video(resources, user_id, data)
    job = await enqueue_job(
        resources, user_id, video_id=video_id, payload={"video_id": str(video_id)}
    )
    async with resources.pool.acquire() as conn:
        assert await jobs_repo.cancel_job(conn, job.id, user_id) is not None
    async with running_worker(resources, build_role("media")):
        await wait_for(lambda: queue_empty(resources), 10, "the message to be deleted")
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "canceled")
    assert await frame_keys(resources, video_id) == []
    job_row = await wait_for_status(resources, job.id, TERMINAL)
    assert (job_row.status, job_row.attempts) == ("canceled", 0)


async def test_cancel_during_extraction_stops_it_and_removes_the_frames(
    resources: Resources, tmp_path: Path
) -> None:
    data = make_video(tmp_path / "long.mp4", frames=900, width=320, height=240).read_bytes()
    user_id = await create_user(resources)
    video_id = await create_video(resources, user_id, data)
    job = await enqueue_job(
        resources, user_id, video_id=video_id, payload={"video_id": str(video_id)}
    )

    async def midway() -> bool:
        return (await get_job(resources, job.id)).progress_done > 0

    async with running_worker(resources, build_role("media")):
        await wait_for(midway, 30, "frames to be extracted")
        async with resources.pool.acquire() as conn:
            assert await jobs_repo.cancel_job(conn, job.id, user_id) is not None
        await wait_for(lambda: queue_empty(resources), 15, "the message to be deleted")
    row = await video_row(resources, video_id)
    assert (row["status"], row["error_code"]) == ("failed", "canceled")
    assert await frame_keys(resources, video_id) == []
    stopped = await get_job(resources, job.id)
    assert stopped.status == "canceled"
    assert 0 < stopped.progress_done < 900
