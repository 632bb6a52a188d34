"""A poison message: a propagation whose every delivery takes its GPU daemon down (killed with -9
each time it runs the job, as a crash or the OOM killer would). After ``worker_max_receives``
deliveries SQS moves the message to the dead-letter queue, where the restarted daemon's reader
fails the job with a reason and the frames it held against the quota are released. The message
stays in the dead-letter queue for the alarm and the runbook."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from roto.billing import repository as billing_repo
from roto.billing.service import period_start
from roto.resources import Resources
from roto.settings import Settings
from tests.faults.stack import CPU_MODEL, processes
from tests.faults.support import TERMINAL, tally
from tests.gpu.propagate_support import enqueue_propagate, keyframe
from tests.gpu.propagation_support import video_frames
from tests.gpu.support import add_object, ready_clip
from tests.worker.support import dlq_url, get_job, wait_for, wait_for_status

pytestmark = pytest.mark.slow

FRAMES = 8
SETTINGS = {
    **CPU_MODEL,
    "worker_visibility_timeout_s": 3,
    "worker_heartbeat_interval_s": 1.0,
    "worker_max_receives": 3,
    "worker_dlq_poll_interval_s": 0.5,
}


async def reserved_frames(resources: Resources, user_id: uuid.UUID) -> int:
    async with resources.pool.acquire() as conn:
        state = await billing_repo.quota_state(conn, user_id, period_start())
    return state.frames_reserved


@pytest.mark.parametrize("settings", [SETTINGS], indirect=True)
async def test_a_message_that_kills_every_worker_fails_its_job_from_the_dead_letter_queue(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    frames: list[np.ndarray] = video_frames(tmp_path, FRAMES, width=160, height=96)
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await keyframe(resources, clip, 1, 0, points=[[40, 48]])
    job = await enqueue_propagate(resources, clip, [1], 0, FRAMES - 1)
    # As the API queues it: its range counts against the quota until it ends.
    await resources.pool.execute(
        "UPDATE jobs SET progress_total = $2 WHERE id = $1", job.id, FRAMES - 1
    )
    held = await reserved_frames(resources, clip.user_id)

    with processes(settings, tmp_path) as procs:
        for attempt in range(1, settings.worker_max_receives + 1):
            daemon = await procs.worker("gpu")

            async def claimed(attempt: int = attempt) -> bool:
                return (await get_job(resources, job.id)).attempts >= attempt

            await wait_for(claimed, 120, f"delivery {attempt} to claim the job")
            daemon.kill9()
        # The next receive moves the message to the dead-letter queue: the reader fails it.
        await procs.worker("gpu")
        done = await wait_for_status(resources, job.id, TERMINAL, timeout_s=120)
    released = await reserved_frames(resources, clip.user_id)
    dead = await resources.sqs.receive_message(
        QueueUrl=await dlq_url(resources, "batch"), WaitTimeSeconds=1, VisibilityTimeout=0
    )

    assert held == FRAMES - 1
    assert (done.status, done.error_code) == ("failed", "dead_lettered")
    assert "dead-letter queue" in (done.error_message or "")
    assert done.attempts == settings.worker_max_receives
    assert released == 0
    assert len(dead.get("Messages", [])) == 1
    tally(
        "poison message (its worker killed on every delivery)",
        jobs=1,
        lost=0,
        stuck=int(done.status not in TERMINAL),
        receives=settings.worker_max_receives,
        quota_released=held - released,
    )
