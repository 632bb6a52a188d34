"""kill -9 of a worker in the middle of its job: the media worker during an export, the GPU daemon
during a propagation. A restarted worker finishes the job once its lease has run out, after
aborting the multipart upload the dead attempt left; the dead worker's scratch directory is
swept; no mask is missing or stored twice; nothing stays ``running``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roto.exports.plan import archive_key
from roto.resources import Resources
from roto.settings import Settings
from roto.worker.scratch import PREFIX
from tests.exports.helpers import masked_video
from tests.faults.stack import CPU_MODEL, processes
from tests.faults.support import TERMINAL, TimedClient, sign_up, tally
from tests.gpu.propagate_support import chunk_keys, enqueue_propagate, keyframe, mask_rows
from tests.gpu.propagation_support import video_frames
from tests.gpu.support import add_object, ready_clip
from tests.worker.support import get_job, wait_for, wait_for_status

pytestmark = pytest.mark.slow

FAST = {"worker_visibility_timeout_s": 4, "worker_heartbeat_interval_s": 1.0}
EXPORT_FRAMES = 240
PROPAGATE_FRAMES = 24


async def open_uploads(resources: Resources, prefix: str) -> list[str]:
    answer = await resources.s3.list_multipart_uploads(
        Bucket=resources.settings.s3_bucket, Prefix=prefix
    )
    return [item["Key"] for item in answer.get("Uploads", [])]


async def wait_midway(resources: Resources, job_id: uuid.UUID, at_least: int) -> None:
    async def midway() -> bool:
        job = await get_job(resources, job_id)
        assert job.status not in TERMINAL, "the job ended before its worker could be killed"
        return job.status == "running" and job.progress_done >= at_least

    await wait_for(midway, 180, "the job to be midway")


@pytest.mark.parametrize("settings", [FAST], indirect=True)
async def test_a_media_worker_killed_mid_export_leaves_nothing_behind(
    settings: Settings, resources: Resources, s3_sync: Any, tmp_path: Path
) -> None:
    with processes(settings, tmp_path) as procs:
        _, url = await procs.api()
        first = await procs.worker("media")
        async with TimedClient(url) as client:
            headers = await sign_up(client)
            video = await masked_video(
                client.http,
                headers,
                settings,
                s3_sync,
                tmp_path,
                frames=EXPORT_FRAMES,
                width=320,
                height=192,
            )
            submitted = await client.request(
                "POST",
                f"/v1/videos/{video.id}/exports",
                json={"format": "prores_4444"},
                headers=headers,
            )
            job_id = uuid.UUID(submitted.json()["job"]["id"])
            await wait_midway(resources, job_id, at_least=10)
            prefix = archive_key(video.id, job_id, "")
            left_open = await open_uploads(resources, prefix)
            first_scratch = sorted(procs.scratch.glob(f"{PREFIX}{first.pid}-*"))
            first.kill9()
            assert (await get_job(resources, job_id)).status == "running"

            second = await procs.worker("media")
            done = await wait_for_status(resources, job_id, TERMINAL, timeout_s=180)
            still_open = await open_uploads(resources, prefix)
            scratch_while_second_runs = sorted(p.name for p in procs.scratch.iterdir())
            second.stop()

    archives = s3_sync.list_objects_v2(Bucket=settings.s3_bucket, Prefix=prefix)
    assert (done.status, done.attempts) == ("succeeded", 2), (done.error_code, done.error_message)
    assert left_open, "the killed attempt had its multipart upload open"
    assert still_open == []
    assert archives["KeyCount"] == 1
    assert archives["Contents"][0]["Size"] == done.result["size_bytes"]
    assert first_scratch and not first_scratch[0].exists()
    assert [name.startswith(f"{PREFIX}{second.pid}-") for name in scratch_while_second_runs] == [
        True
    ]
    tally(
        "kill -9 of the media worker mid-export",
        jobs=1,
        lost=int(done.status != "succeeded"),
        stuck=int(done.status not in TERMINAL),
        orphan_uploads=len(still_open),
    )


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    return video_frames(tmp_path_factory.mktemp("faults"), PROPAGATE_FRAMES, width=160, height=96)


@pytest.mark.parametrize("settings", [{**FAST, **CPU_MODEL}], indirect=True)
async def test_a_gpu_daemon_killed_mid_propagation_loses_and_duplicates_no_mask(
    settings: Settings,
    resources: Resources,
    long_clip: list[np.ndarray],
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    clip = await ready_clip(resources, long_clip)
    await add_object(resources, clip)
    await keyframe(resources, clip, 1, 0, points=[[40, 48]])
    job = await enqueue_propagate(resources, clip, [1], 0, PROPAGATE_FRAMES - 1)
    with processes(settings, tmp_path) as procs:
        first = await procs.worker("gpu")
        await wait_midway(resources, job.id, at_least=4)
        first.kill9()
        assert (await get_job(resources, job.id)).status == "running"
        second = await procs.worker("gpu")
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=300)
        second.stop()

    rows = await mask_rows(resources, clip.video_id)
    assert (done.status, done.attempts) == ("succeeded", 2), (done.error_code, done.error_message)
    assert done.result == {
        "frames_processed": PROPAGATE_FRAMES - 1,
        "masks_written": PROPAGATE_FRAMES - 1,
    }
    frames = [(row.object_id, row.frame_index) for row in rows]
    assert frames == [(1, f) for f in range(PROPAGATE_FRAMES)]  # none missing, none twice
    assert all(row.job_id == job.id for row in rows if row.frame_index > 0)
    # Every stored chunk is one the index points at: the dead attempt's were swept.
    stored = chunk_keys(s3_sync, settings.s3_bucket, clip.video_id, 1)
    assert stored == {row.storage_key for row in rows if row.frame_index > 0}
    tally(
        "kill -9 of the GPU daemon mid-propagation",
        jobs=1,
        lost=int(done.status != "succeeded"),
        stuck=int(done.status not in TERMINAL),
        masks=len(rows),
    )
