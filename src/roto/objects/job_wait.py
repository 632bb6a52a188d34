"""Waiting a bounded time for a job to finish: Redis pub/sub events, backed by PostgreSQL reads.

Whoever subscribes before the job can run (or reads the job after subscribing) cannot miss its
terminal event. PostgreSQL is read again every ``RESYNC_INTERVAL_S`` and when the wait ends, so a
lost event or an unreachable Redis costs latency, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import anyio
import msgspec
import structlog
from redis.exceptions import RedisError

from roto.jobs import events
from roto.jobs import repository as jobs_repo
from roto.jobs.schemas import TERMINAL_STATUSES
from roto.resources import Resources

log = structlog.get_logger(__name__)

#: How often a waiter re-reads its job while Redis delivers no terminal event.
RESYNC_INTERVAL_S = 1.0
#: How often it reads the job when Redis cannot be subscribed to.
POLL_INTERVAL_S = 0.2
#: A subscription that takes longer than this counts as Redis being away.
SUBSCRIBE_TIMEOUT_S = 2.0
CLOSE_TIMEOUT_S = 2.0
_REDIS_ERRORS = (RedisError, OSError, TimeoutError)


class JobWaiter:
    """Subscribes to one job's events and waits for its end; use as an async context manager."""

    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        self._pubsub: Any | None = None
        self._job_id: uuid.UUID | None = None

    async def __aenter__(self) -> JobWaiter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close()

    async def watch(self, job_id: uuid.UUID) -> None:
        """Subscribe to ``job_id``'s channel (instead of any earlier one)."""
        await self._close()
        self._job_id = job_id
        pubsub = self._resources.redis.pubsub()
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                await pubsub.subscribe(events.channel(str(job_id)))
        except _REDIS_ERRORS as exc:
            log.warning("job_wait_subscribe_failed", job_id=str(job_id), error=repr(exc))
            self._pubsub = pubsub
            await self._close()
            return
        self._pubsub = pubsub

    async def wait(self, job: jobs_repo.JobRow, wait_s: float) -> jobs_repo.JobRow:
        """The job once it is finished, or as it stands after ``wait_s`` seconds."""
        if wait_s <= 0 or job.status in TERMINAL_STATUSES:
            return job
        deadline = time.monotonic() + wait_s
        if self._job_id != job.id:
            # Not subscribed before the job could run (a replayed key): read it after subscribing.
            await self.watch(job.id)
            job = await self._read(job)
            if job.status in TERMINAL_STATUSES:
                return job
        next_read = time.monotonic() + self._read_interval()
        while (remaining := deadline - time.monotonic()) > 0:
            if await self._terminal_event(min(remaining, max(0.0, next_read - time.monotonic()))):
                break
            if time.monotonic() >= next_read:
                job = await self._read(job)
                if job.status in TERMINAL_STATUSES:
                    return job
                next_read = time.monotonic() + self._read_interval()
        return await self._read(job)

    def _read_interval(self) -> float:
        return RESYNC_INTERVAL_S if self._pubsub is not None else POLL_INTERVAL_S

    async def _terminal_event(self, timeout_s: float) -> bool:
        """Whether a terminal status event arrives within ``timeout_s``."""
        if self._pubsub is None:
            await anyio.sleep(min(timeout_s, POLL_INTERVAL_S))
            return False
        try:
            message = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=timeout_s
            )
        except _REDIS_ERRORS as exc:
            log.warning("job_wait_redis_lost", job_id=str(self._job_id), error=repr(exc))
            await self._close()
            return False
        if message is None or message.get("type") != "message":
            return False
        try:
            event = events.decode_event(message["data"])
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("job_wait_event_undecodable", job_id=str(self._job_id))
            return False
        data = event.data
        return (
            event.event == "status"
            and isinstance(data, dict)
            and data.get("status") in TERMINAL_STATUSES
        )

    async def _read(self, job: jobs_repo.JobRow) -> jobs_repo.JobRow:
        async with self._resources.pool.acquire() as conn:
            current = await jobs_repo.get_job(conn, job.id)
        return current or job

    async def _close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is None:
            return
        # Shielded: a client that hung up cancels the wait, and the connection must still go back.
        with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
            try:
                await pubsub.aclose()
            except _REDIS_ERRORS as exc:
                log.warning("job_wait_close_failed", error=repr(exc))
