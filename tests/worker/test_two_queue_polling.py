"""A role with two queues (the GPU daemon's interactive and batch) while idle: a message on either
queue is started at once, not after the other queue's long poll runs out; and a stop hands back
what the long polls still under way receive."""

from __future__ import annotations

import asyncio
import time

import pytest

from roto.resources import Resources
from roto.worker.contract import JobHandler, Role
from roto.worker.runtime import WorkerRuntime
from tests.worker.support import (
    Recorder,
    create_user,
    enqueue_job,
    has_at_least,
    make_role,
    queue_counts,
    wait_for,
)

LONG_POLL_S = 10
# Well under the long poll: with the old behaviour a message waited for it to run out.
PROMPT_S = 3.0
TWO_QUEUES = {"worker_wait_time_s": LONG_POLL_S, "worker_concurrency": 4}


def two_queue_role(recorder: Recorder) -> Role:
    handler = JobHandler(run=recorder)
    return make_role({"segment": handler, "propagate": handler}, queues=("interactive", "batch"))


async def started_within(recorder: Recorder, count: int) -> float:
    began = time.monotonic()
    await wait_for(lambda: has_at_least(recorder.runs, count), LONG_POLL_S * 2, "the job")
    return time.monotonic() - began


@pytest.mark.parametrize("settings", [TWO_QUEUES], indirect=True)
async def test_an_idle_worker_starts_a_message_on_either_queue_at_once(
    resources: Resources,
) -> None:
    recorder = Recorder()
    user_id = await create_user(resources)
    runtime = WorkerRuntime(resources, two_queue_role(recorder))
    task = asyncio.create_task(runtime.run())
    try:
        await asyncio.sleep(1.5)  # both queues are long-polled by now
        await enqueue_job(resources, user_id, job_type="segment")
        first = await started_within(recorder, 1)
        # A second click right after the first, while the batch queue's poll still runs.
        await enqueue_job(resources, user_id, job_type="segment")
        second = await started_within(recorder, 2)
        await asyncio.sleep(1.5)
        await enqueue_job(resources, user_id, job_type="propagate")
        batch = await started_within(recorder, 3)
    finally:
        runtime.request_stop()
        await asyncio.wait_for(task, timeout=LONG_POLL_S * 3)
    assert max(first, second, batch) < PROMPT_S, (first, second, batch)


@pytest.mark.parametrize("settings", [TWO_QUEUES], indirect=True)
async def test_a_message_a_poll_receives_after_the_stop_is_handed_back(
    resources: Resources,
) -> None:
    recorder = Recorder()
    user_id = await create_user(resources)
    runtime = WorkerRuntime(resources, two_queue_role(recorder))
    task = asyncio.create_task(runtime.run())
    await asyncio.sleep(1.5)
    runtime.request_stop()
    # The polls under way at the stop receive this message; it must not stay hidden.
    await enqueue_job(resources, user_id, job_type="propagate")
    await asyncio.wait_for(task, timeout=LONG_POLL_S * 3)

    assert recorder.runs == []
    assert await queue_counts(resources, "batch") == (1, 0)
