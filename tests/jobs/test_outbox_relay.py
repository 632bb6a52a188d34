"""The outbox relay: a burst of jobs on several queues goes out in batches, every message exactly
once and to its own queue, and a burst on one queue does not hold back another's; a message SQS
refuses stays in the outbox for a later retry."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from roto.jobs import outbox
from roto.jobs import repository as jobs_repo
from roto.resources import Resources
from roto.settings import Settings
from tests.videos.helpers import receive_job_messages
from tests.worker.support import create_user


async def queue_jobs(resources: Resources, user_id: uuid.UUID, job_type: str, count: int) -> set:
    async with resources.pool.acquire() as conn, conn.transaction():
        jobs = [
            await outbox.create_job(conn, user_id=user_id, video_id=None, job_type=job_type)
            for _ in range(count)
        ]
    return {str(job.id) for job in jobs}


def urls(resources: Resources) -> dict[str, str]:
    return resources.queue_urls


async def outbox_rows(resources: Resources) -> list[dict[str, Any]]:
    async with resources.pool.acquire() as conn:
        rows = await conn.fetch("SELECT job_id, attempts, last_error FROM outbox ORDER BY id")
    return [dict(row) for row in rows]


async def test_a_burst_on_several_queues_is_sent_once_each_in_batched_passes(
    resources: Resources, settings: Settings, sqs_sync: Any
) -> None:
    user_id = await create_user(resources)
    clicks = await queue_jobs(resources, user_id, "segment", 123)
    ingests = await queue_jobs(resources, user_id, "ingest", 4)

    passes = []
    while (done := await outbox.relay_pass(resources.pool, resources.sqs, urls(resources))).taken:
        passes.append(done)

    # Each pass takes up to RELAY_BATCH of each queue: 100 clicks and the 4 ingests, then 23.
    assert [(p.taken, p.full) for p in passes] == [(outbox.RELAY_BATCH + 4, True), (23, False)]
    assert sum(p.sent for p in passes) == 127
    assert await outbox_rows(resources) == []
    got_clicks = await receive_job_messages(sqs_sync, settings.queue_interactive, expect=123)
    got_ingests = await receive_job_messages(sqs_sync, settings.queue_media, expect=4)
    assert sorted(m.job_id for m in got_clicks) == sorted(clicks)
    assert sorted(m.job_id for m in got_ingests) == sorted(ingests)


class RefusingSqs:
    """SQS that refuses one entry of each batch (as SQS does for an entry it cannot take)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    async def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:
        refused, rest = Entries[0], Entries[1:]
        answer = await self.real.send_message_batch(QueueUrl=QueueUrl, Entries=rest)
        answer["Failed"] = [
            {"Id": refused["Id"], "Code": "InvalidMessageContents", "Message": "refused"}
        ]
        return answer


async def test_a_refused_message_stays_for_a_retry_and_the_rest_are_sent(
    resources: Resources, settings: Settings, sqs_sync: Any
) -> None:
    user_id = await create_user(resources)
    jobs = await queue_jobs(resources, user_id, "propagate", 3)

    done = await outbox.relay_pass(resources.pool, RefusingSqs(resources.sqs), resources.queue_urls)

    assert (done.taken, done.sent) == (3, 2)
    (left,) = await outbox_rows(resources)
    assert str(left["job_id"]) in jobs
    assert (left["attempts"], left["last_error"]) == (1, "InvalidMessageContents: refused")
    sent = await receive_job_messages(sqs_sync, settings.queue_batch, expect=2)
    assert {m.job_id for m in sent} == jobs - {str(left["job_id"])}
    # Once its backoff (0.5 s after a first failure) has passed, the next pass sends it.
    await asyncio.sleep(0.6)
    again = await outbox.relay_pass(resources.pool, resources.sqs, urls(resources))
    assert (again.taken, again.sent) == (1, 1)
    assert await outbox_rows(resources) == []
    retried = await receive_job_messages(sqs_sync, settings.queue_batch, expect=1)
    assert [m.job_id for m in retried] == [str(left["job_id"])]


async def test_a_click_behind_a_burst_of_propagations_goes_out_in_the_first_pass(
    resources: Resources, settings: Settings, sqs_sync: Any
) -> None:
    user_id = await create_user(resources)
    propagations = await queue_jobs(resources, user_id, "propagate", outbox.RELAY_BATCH + 50)
    (click,) = await queue_jobs(resources, user_id, "segment", 1)  # the newest outbox row

    first = await outbox.relay_pass(resources.pool, resources.sqs, urls(resources))

    assert (first.taken, first.full) == (outbox.RELAY_BATCH + 1, True)
    sent = await receive_job_messages(sqs_sync, settings.queue_interactive, expect=1)
    assert [m.job_id for m in sent] == [click]
    while (await outbox.relay_pass(resources.pool, resources.sqs, urls(resources))).taken:
        pass
    assert await outbox_rows(resources) == []
    batch = await receive_job_messages(sqs_sync, settings.queue_batch, expect=len(propagations))
    assert {m.job_id for m in batch} == propagations


async def test_a_job_and_its_held_message_are_written_together_and_withdrawn_with_its_outcome(
    resources: Resources,
) -> None:
    """``create_job`` writes the job and its message in one statement; finishing it withdraws
    the message in one more, and only when the job was moved (not for a stale attempt)."""
    user_id = await create_user(resources)
    async with resources.pool.acquire() as conn, conn.transaction():
        job = await outbox.create_job(
            conn, user_id=user_id, video_id=None, job_type="segment", hold_s=60
        )
        other = await outbox.create_job(conn, user_id=user_id, video_id=None, job_type="ingest")
    assert job.status == "queued" and job.type == "segment"
    async with resources.pool.acquire() as conn:
        held = await conn.fetchrow(
            "SELECT queue, body, available_at - now() > interval '50 seconds' AS held "
            "FROM outbox WHERE job_id = $1",
            job.id,
        )
        assert held is not None and held["queue"] == "interactive" and held["held"]
        assert str(job.id) in held["body"]

        # A stale attempt moves nothing and withdraws nothing.
        stale = await jobs_repo.finish_job(conn, job.id, "succeeded", attempt=7, withdraw=True)
        assert stale is None
        assert [row["job_id"] for row in await outbox_rows(resources)] == [job.id, other.id]

        finished = await jobs_repo.finish_job(conn, job.id, "succeeded", withdraw=True)
        assert finished is not None and finished.status == "succeeded"
        assert [row["job_id"] for row in await outbox_rows(resources)] == [other.id]
