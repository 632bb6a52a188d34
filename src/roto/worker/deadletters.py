"""Reads the dead-letter queues of a role's queues. A message lands there after
``worker_max_receives`` deliveries; when no delivery stored an outcome (each worker died or hung),
its job would stay ``queued`` or ``running`` forever, holding its quota and, for an ingest, its
video in ``ingesting``. This fails such a job with a reason, as its handler's failure.

Messages of failed jobs are left in the queue, where the dead-letter alarm and the runbook expect
them (they are read with a visibility timeout of 0, so they stay visible); those of jobs that
succeeded or were canceled meanwhile, or are gone, are deleted: nothing is left to look into.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
import structlog
from botocore.exceptions import ClientError

from roto.aws import DLQ_SUFFIX
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import decode_message
from roto.resources import Resources
from roto.timefmt import utcnow
from roto.waits import wait_for_event
from roto.worker.contract import JobHandler
from roto.worker.jobrun import fail_dead_lettered

log = structlog.get_logger(__name__)

SQS_MAX_MESSAGES = 10


class DeadLetters:
    """The dead-letter queues of ``queues`` (names of ``Resources.queue_urls``)."""

    def __init__(
        self, resources: Resources, handlers: Mapping[str, JobHandler], queues: tuple[str, ...]
    ) -> None:
        self._resources = resources
        self._handlers = handlers
        self._names = [resources.settings.queue_names[queue] + DLQ_SUFFIX for queue in queues]
        self._urls: list[str] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Read the queues every ``worker_dlq_poll_interval_s`` until ``stop``."""
        interval = self._resources.settings.worker_dlq_poll_interval_s
        while not stop.is_set():
            try:
                await self.read_once()
            except Exception as exc:  # SQS or PostgreSQL away: try again next round
                log.warning("dead_letters_not_read", error=repr(exc))
            await wait_for_event(stop, interval)

    async def read_once(self) -> int:
        """One look at each dead-letter queue; returns how many jobs it failed."""
        failed = 0
        for url in await self._queue_urls():
            answer = await self._resources.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=SQS_MAX_MESSAGES,
                WaitTimeSeconds=0,
                VisibilityTimeout=0,
            )
            for message in answer.get("Messages", []):
                failed += await self._handle(url, message)
        return failed

    async def _queue_urls(self) -> list[str]:
        if self._urls is None:
            urls = []
            for name in self._names:
                try:
                    answer = await self._resources.sqs.get_queue_url(QueueName=name)
                except ClientError as exc:
                    log.warning("dead_letter_queue_missing", queue=name, error=repr(exc))
                    continue
                urls.append(answer["QueueUrl"])
            self._urls = urls
        return self._urls

    async def _handle(self, url: str, message: dict[str, Any]) -> int:
        try:
            job_id = uuid.UUID(decode_message(message["Body"]).job_id)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            return 0  # not a job message: an operator's to look at
        async with self._resources.pool.acquire() as conn:
            job = await jobs_repo.get_job(conn, job_id)
        if job is None or job.status in ("succeeded", "canceled"):
            await self._resources.sqs.delete_message(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
            )
            return 0
        if job.status == "failed" or _leased(job):
            return 0  # failed already, or still running under a live lease
        handler = self._handlers.get(job.type)
        receives = self._resources.settings.worker_max_receives
        with structlog.contextvars.bound_contextvars(job_id=str(job.id), job_type=job.type):
            return int(await fail_dead_lettered(self._resources, handler, job, receives))


def _leased(job: jobs_repo.JobRow) -> bool:
    return (
        job.status == "running"
        and job.lease_expires_at is not None
        and job.lease_expires_at > utcnow()
    )
