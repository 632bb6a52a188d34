"""Deleting a video stops its jobs: a running job is canceled and stops, and nothing it writes
after the delete is left behind (its worker sweeps the video's prefix once the job ends)."""

from __future__ import annotations

import asyncio
import uuid

from litestar.testing import AsyncTestClient

from roto.resources import Resources
from roto.settings import Settings
from roto.worker.contract import JobContext, JobHandler
from tests.videos.helpers import announce, owner_of
from tests.worker.support import (
    Recorder,
    enqueue_job,
    has_at_least,
    job_events,
    make_role,
    queue_empty,
    running_worker,
    wait_for,
)


async def test_deleting_a_video_stops_its_running_job_and_leaves_nothing_it_wrote(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
) -> None:
    video_id = (await announce(client, headers, 1000))["video"]["id"]
    user_id = await owner_of(settings, video_id)
    job = await enqueue_job(resources, user_id, video_id=uuid.UUID(video_id))
    bucket = settings.s3_bucket
    written: list[str] = []

    async def write_masks(ctx: JobContext, run: int) -> None:
        # Like a propagation: objects under the video's prefix, progress now and then.
        for frame in range(10_000):
            key = f"videos/{video_id}/masks/1/chunks/{frame:06d}.json"
            await resources.s3.put_object(Bucket=bucket, Key=key, Body=b"[]")
            written.append(key)
            await ctx.report_progress(frame, 10_000)
            await asyncio.sleep(0.02)

    async with (
        job_events(resources, job.id) as seen,
        running_worker(resources, make_role({"ingest": JobHandler(run=Recorder(write_masks))})),
    ):
        await wait_for(lambda: has_at_least(written, 20), 15, "the job to write")
        deleted = await client.delete(f"/v1/videos/{video_id}", headers=headers)
        await wait_for(lambda: queue_empty(resources), 15, "the job to stop")
        stopped_at = len(written)
        await asyncio.sleep(0.5)

    assert deleted.status_code == 204
    assert len(written) == stopped_at < 10_000
    assert "canceled" in [status["status"] for status in seen.of_kind("status")]
    left = await resources.s3.list_objects_v2(Bucket=bucket, Prefix=f"videos/{video_id}/")
    assert left.get("KeyCount", 0) == 0
    assert await resources.pool.fetchval("SELECT count(*) FROM jobs WHERE id = $1", job.id) == 0
