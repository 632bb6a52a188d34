"""Watching one job: its Redis pub/sub events, backed by PostgreSQL reads. Behind both the
server-sent event stream (``follow``) and the bounded waits of ``?wait=`` (``wait``).

Subscribe before the job can change (or read it after subscribing) and no event can fall between
the read and the subscription. The job is read again every ``resync_s`` while subscribed, and
every ``poll_s`` while Redis is away, so a lost event or an unreachable Redis costs latency,
never a wrong or a hanging answer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec
import structlog

from roto.jobs import events
from roto.jobs import repository as jobs_repo
from roto.jobs.schemas import TERMINAL_STATUSES, Job
from roto.resources import Resources
from roto.subscribers import REDIS_ERRORS
from roto.timefmt import parse_rfc3339

log = structlog.get_logger(__name__)

#: A subscription that takes longer than this counts as Redis being away.
SUBSCRIBE_TIMEOUT_S = 2.0


class Ping:
    """Yielded by ``follow`` when nothing happened for ``ping_s`` (keeps a stream open)."""


PING = Ping()


def is_terminal(event: events.JobEvent) -> bool:
    return (
        event.event == "status"
        and isinstance(event.data, dict)
        and event.data.get("status") in TERMINAL_STATUSES
    )


def as_announced(job: jobs_repo.JobRow, event: events.JobEvent) -> jobs_repo.JobRow | None:
    """``job`` as a status event of it says it now is; None when the event does not describe
    it. A worker publishes a job's status after committing it, so a terminal event is the row as
    stored, and the answer needs no read of its own (its lease, which no answer shows, is left
    as it was)."""
    try:
        wire = msgspec.convert(event.data, Job)
    except msgspec.ValidationError:
        return None
    if wire.id != str(job.id):
        return None
    error = wire.error
    return msgspec.structs.replace(
        job,
        status=wire.status,
        progress_done=wire.progress.done,
        progress_total=wire.progress.total,
        result=wire.result,
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        started_at=parse_rfc3339(wire.started_at),
        finished_at=parse_rfc3339(wire.finished_at),
    )


class JobWatch:
    """One job's events; use as an async context manager (the subscription is closed on exit)."""

    def __init__(self, resources: Resources, *, resync_s: float, poll_s: float) -> None:
        self._resources = resources
        self._resync_s = resync_s
        self._poll_s = poll_s
        self._pubsub: Any | None = None
        self._channel = ""
        # False while a read is under way or after one failed: the connection may then hold
        # half a reply, and is closed rather than kept for the next watch.
        self._between_reads = True
        self.job_id: uuid.UUID | None = None

    async def __aenter__(self) -> JobWatch:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close()

    @property
    def is_subscribed(self) -> bool:
        return self._pubsub is not None

    async def subscribe(self, job_id: uuid.UUID) -> None:
        """Listen to ``job_id``'s channel (instead of any earlier one); Redis being away leaves
        the watch reading PostgreSQL instead."""
        await self._close()
        self.job_id = job_id
        channel = events.channel(str(job_id))
        pubsub = self._resources.subscribers.take(self._resources.redis)
        self._pubsub, self._channel, self._between_reads = pubsub, channel, False
        try:
            with anyio.fail_after(SUBSCRIBE_TIMEOUT_S):
                await pubsub.subscribe(channel)
        except REDIS_ERRORS as exc:
            log.warning("job_watch_subscribe_failed", job_id=str(job_id), error=repr(exc))
            await self._close()
            return
        self._between_reads = True

    async def read(self, job_id: uuid.UUID) -> jobs_repo.JobRow | None:
        async with self._resources.pool.acquire() as conn:
            return await jobs_repo.get_job(conn, job_id)

    async def follow(
        self, job: jobs_repo.JobRow, *, ping_s: float | None = None, until: float | None = None
    ) -> AsyncIterator[events.JobEvent | Ping]:
        """Every event of ``job`` (subscribed to already) until its terminal status, the job
        disappearing, or the ``time.monotonic()`` instant ``until``. A status change seen only by
        a re-read is yielded as a ``status`` event; ``PING`` after ``ping_s`` of quiet."""
        last_status = job.status
        if last_status in TERMINAL_STATUSES:
            return
        now = time.monotonic()
        next_ping = now + ping_s if ping_s is not None else float("inf")
        next_read = now + self._read_interval()
        while True:
            now = time.monotonic()
            if until is not None and now >= until:
                return
            deadline = min(next_ping, next_read, until if until is not None else float("inf"))
            event = await self._next_event(max(0.0, deadline - now))
            if event is not None:
                yield event
                if event.event == "status" and isinstance(event.data, dict):
                    last_status = str(event.data.get("status"))
                if is_terminal(event):
                    return
                continue
            now = time.monotonic()
            if now >= next_ping and ping_s is not None:
                yield PING
                next_ping = now + ping_s
            if now >= next_read:
                current = await self.read(job.id)
                if current is None:
                    return
                if current.status != last_status:
                    last_status = current.status
                    yield events.JobEvent("status", msgspec.to_builtins(current.to_wire()))
                    if last_status in TERMINAL_STATUSES:
                        return
                next_read = time.monotonic() + self._read_interval()

    async def wait(self, job: jobs_repo.JobRow, wait_s: float) -> jobs_repo.JobRow:
        """The job once it is finished (as its terminal event announced it), or as it stands
        after ``wait_s`` seconds."""
        if wait_s <= 0 or job.status in TERMINAL_STATUSES:
            return job
        until = time.monotonic() + wait_s
        if self.job_id != job.id:
            # Not subscribed before the job could run (a replayed key): read it after subscribing.
            await self.subscribe(job.id)
            job = await self.read(job.id) or job
        async for event in self.follow(job, until=until):
            if isinstance(event, events.JobEvent) and is_terminal(event):
                announced = as_announced(job, event)
                if announced is not None:
                    return announced
                break
        return await self.read(job.id) or job

    def _read_interval(self) -> float:
        return self._resync_s if self._pubsub is not None else self._poll_s

    async def _next_event(self, timeout_s: float) -> events.JobEvent | None:
        """The next event within ``timeout_s``; None on a timeout, a lost Redis (the watch then
        reads PostgreSQL) or an undecodable message."""
        if self._pubsub is None:
            await anyio.sleep(timeout_s)
            return None
        self._between_reads = False
        try:
            message = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=timeout_s
            )
        except REDIS_ERRORS as exc:
            log.warning("job_watch_redis_lost", job_id=str(self.job_id), error=repr(exc))
            await self._close()
            return None
        self._between_reads = True
        if message is None or message.get("type") != "message":
            return None
        if _text(message.get("channel")) != self._channel:  # an earlier watch's, on a reused PubSub
            return None
        try:
            return events.decode_event(message["data"])
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("job_watch_event_undecodable", job_id=str(self.job_id))
            return None

    async def _close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await self._resources.subscribers.give_back(pubsub, reusable=self._between_reads)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
