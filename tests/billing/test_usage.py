"""Usage: what finished GPU jobs record (once each), the month's totals in /v1/billing/usage and
/v1/me, and the 402 that refuses a job past the frame quota before it is queued."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from roto.billing import service as billing
from roto.jobs import repository as jobs_repo
from roto.jobs.outbox import create_job
from roto.resources import Resources
from roto.settings import Settings
from tests.factories import signup
from tests.ingest.test_ingest import ingest
from tests.media import make_video
from tests.objects.helpers import count_rows, fetch_value, new_object
from tests.propagations.helpers import prompted_video
from tests.videos.helpers import connect

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def job_row(job_type: str, status: str, **fields: Any) -> jobs_repo.JobRow:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "video_id": None,
        "type": job_type,
        "status": status,
        "payload": {},
        "progress_done": 0,
        "progress_total": 0,
        "result": None,
        "error_code": None,
        "error_message": None,
        "attempts": 1,
        "request_id": None,
        "created_at": T0,
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=2.5),
    }
    values.update(fields)
    return jobs_repo.JobRow(**values)


def gpu(frames: int) -> billing.JobUsage:
    return billing.JobUsage(frames, gpu_seconds=2.5)


def test_clicks_bill_one_frame_and_propagations_the_frames_they_computed() -> None:
    assert billing.job_usage(job_row("segment", "succeeded")) == gpu(1)
    assert billing.job_usage(job_row("segment", "failed")) == gpu(0)
    done = job_row("propagate", "succeeded", result={"frames_processed": 40}, progress_done=40)
    assert billing.job_usage(done) == gpu(40)
    canceled = job_row("propagate", "canceled", progress_done=17)
    assert billing.job_usage(canceled) == gpu(17)


def test_media_jobs_are_metered_outside_the_quota_and_unstarted_jobs_not_at_all() -> None:
    for job_type in ("ingest", "export"):
        used = billing.job_usage(job_row(job_type, "succeeded", progress_done=30))
        assert used == billing.JobUsage(30, worker_seconds=2.5, counts_toward_quota=False)
    assert billing.job_usage(job_row("propagate", "canceled", started_at=None)) is None
    assert billing.job_usage(job_row("ingest", "failed", started_at=None)) is None


async def test_an_ingest_is_metered_and_leaves_the_months_frames_alone(
    resources: Resources, tmp_path: Path
) -> None:
    data = make_video(tmp_path / "clip.mp4", frames=14).read_bytes()
    _, job_id = await ingest(resources, data)
    row = await resources.pool.fetchrow(
        "SELECT user_id, job_type, frames, gpu_seconds, worker_seconds, counts_toward_quota "
        "FROM usage_records WHERE job_id = $1",
        job_id,
    )
    assert row is not None
    assert (row["job_type"], row["frames"], row["gpu_seconds"]) == ("ingest", 14, 0.0)
    assert row["worker_seconds"] > 0 and row["counts_toward_quota"] is False
    month = await billing.usage(resources, row["user_id"])
    assert (month.frames_processed, month.gpu_seconds) == (0, 0.0)


def test_the_period_is_the_calendar_month_in_utc() -> None:
    assert billing.period_start(T0) == datetime(2026, 11, 1, tzinfo=UTC)


async def user_id_of(client: AsyncTestClient, headers: dict[str, str]) -> uuid.UUID:
    me = await client.get("/v1/me", headers=headers)
    return uuid.UUID(me.json()["id"])


async def finish_propagation(settings: Settings, user_id: uuid.UUID, frames: int) -> uuid.UUID:
    """A propagate job of ``user_id`` that ran and finished having computed ``frames``."""
    conn = await connect(settings)
    try:
        async with conn.transaction():
            job = await create_job(
                conn, user_id=user_id, video_id=None, job_type="propagate", payload={}
            )
        claimed = await jobs_repo.claim_job(conn, job.id)
        assert claimed is not None
        row = await jobs_repo.finish_job(
            conn, job.id, "succeeded", result={"frames_processed": frames}
        )
        assert row is not None
        await billing.record_job_usage(conn, row)
        await billing.record_job_usage(conn, row)  # a redelivery records nothing more
    finally:
        await conn.close()
    return job.id


async def test_usage_reports_the_months_frames_gpu_time_and_quota(
    client: AsyncTestClient, settings: Settings
) -> None:
    headers = await signup(client)
    fresh = await client.get("/v1/billing/usage", headers=headers)
    assert fresh.status_code == 200
    assert fresh.json() == {
        "period_start": billing.period_start().strftime("%Y-%m-%dT00:00:00.000Z"),
        "frames_processed": 0,
        "gpu_seconds": 0.0,
        "frames_quota": billing.FRAME_QUOTAS["free"],
    }
    user_id = await user_id_of(client, headers)
    await finish_propagation(settings, user_id, 120)
    await finish_propagation(settings, user_id, 30)

    used = (await client.get("/v1/billing/usage", headers=headers)).json()
    me = (await client.get("/v1/me", headers=headers)).json()
    assert used["frames_processed"] == 150
    assert used["gpu_seconds"] >= 0.0
    assert me["usage"] == {"frames_this_month": 150, "frames_quota": used["frames_quota"]}
    stranger = await signup(client)
    assert (await client.get("/v1/billing/usage", headers=stranger)).json()["frames_processed"] == 0
    assert (await client.get("/v1/billing/usage")).status_code == 401


async def use_frames(settings: Settings, user_id: uuid.UUID, frames: int) -> None:
    conn = await connect(settings)
    try:
        await conn.execute(
            "INSERT INTO usage_records (job_id, user_id, job_type, frames, gpu_seconds) "
            "VALUES ($1, $2, 'propagate', $3, 1.0)",
            uuid.uuid4(),
            user_id,
            frames,
        )
    finally:
        await conn.close()


async def test_a_propagation_past_the_quota_is_402_and_queues_nothing(
    client: AsyncTestClient, settings: Settings
) -> None:
    headers = await signup(client)
    video_id = await prompted_video(client, headers, settings)
    quota = billing.FRAME_QUOTAS["free"]
    # Object 1's keyframes 3 and 7 in a 12-frame video: a both-ways run covers all 12 frames.
    await use_frames(settings, await user_id_of(client, headers), quota - 11)
    before = await count_rows(settings, "jobs", video_id)

    refused = await client.post(
        f"/v1/videos/{video_id}/propagations",
        json={"object_ids": [1], "direction": "both"},
        headers=headers,
    )
    assert refused.status_code == 402, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "12 frames" in refused.json()["detail"] and "11" in refused.json()["detail"]
    assert await count_rows(settings, "jobs", video_id) == before

    fits = await client.post(
        f"/v1/videos/{video_id}/propagations",
        json={"object_ids": [1], "direction": "forward", "frame_start": 1, "frame_end": 11},
        headers=headers,
    )
    assert fits.status_code == 202, fits.text


async def test_a_click_with_no_frames_left_is_402_and_stores_no_prompt(
    client: AsyncTestClient, settings: Settings
) -> None:
    headers = await signup(client)
    video_id = await prompted_video(client, headers, settings)
    await new_object(client, headers, video_id)
    await use_frames(settings, await user_id_of(client, headers), billing.FRAME_QUOTAS["free"])
    prompts = await count_rows(settings, "prompts", video_id)

    refused = await client.post(
        f"/v1/videos/{video_id}/prompts?wait=0",
        json={"object_id": 4, "frame_index": 0, "points": [[5, 5]], "labels": [1]},
        headers=headers,
    )
    assert refused.status_code == 402, refused.text
    assert await count_rows(settings, "prompts", video_id) == prompts
    plan = await fetch_value(
        settings, "SELECT plan FROM users WHERE id = $1", await user_id_of(client, headers)
    )
    assert plan == "free"


async def test_frames_held_by_queued_jobs_count_until_the_job_is_canceled(
    client: AsyncTestClient, settings: Settings
) -> None:
    headers = await signup(client)
    video_id = await prompted_video(client, headers, settings)
    await use_frames(settings, await user_id_of(client, headers), billing.FRAME_QUOTAS["free"] - 12)
    one_frame = {"object_ids": [1], "direction": "forward", "frame_start": 3, "frame_end": 3}

    # Nothing runs the queue here: the first job stays queued and holds its 11 frames.
    queued = await client.post(
        f"/v1/videos/{video_id}/propagations",
        json={"object_ids": [1], "direction": "forward", "frame_start": 1, "frame_end": 11},
        headers=headers,
    )
    assert queued.status_code == 202, queued.text
    last = await client.post(f"/v1/videos/{video_id}/propagations", json=one_frame, headers=headers)
    assert last.status_code == 202, last.text
    refused = await client.post(
        f"/v1/videos/{video_id}/propagations", json=one_frame, headers=headers
    )
    assert refused.status_code == 402, refused.text
    assert "12 more are held by queued or running jobs" in refused.json()["detail"]

    canceled = await client.post(f"/v1/jobs/{queued.json()['job']['id']}/cancel", headers=headers)
    assert canceled.status_code == 202, canceled.text
    again = await client.post(
        f"/v1/videos/{video_id}/propagations", json=one_frame, headers=headers
    )
    assert again.status_code == 202, again.text
