"""The server-sent event stream of one job: Redis pub/sub events, backed by PostgreSQL reads.

The stream subscribes before it reads the job, so no event falls between the read and the
subscription; it re-reads the job every ``sse_resync_interval_s`` so that a lost message (or Redis
being away) delays the end of the stream but never hangs it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec
import redis.asyncio as aioredis
import structlog
from litestar.response import ServerSentEventMessage
from redis.exceptions import RedisError

from roto.jobs import events
from roto.jobs import repository as repo
from roto.jobs.schemas import TERMINAL_STATUSES
from roto.resources import Resources

log = structlog.get_logger(__name__)
CLOSE_TIMEOUT_S = 2.0


def _message(event: str, data: Any) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=msgspec.json.encode(data).decode(), event=event)


def _is_terminal(event: events.JobEvent) -> bool:
    return (
        event.event == "status"
        and isinstance(event.data, dict)
        and event.data.get("status") in TERMINAL_STATUSES
    )


async def _subscribe(redis: aioredis.Redis, job_id: uuid.UUID) -> Any | None:
    """A subscribed pub/sub, or None when Redis is away (the stream then polls PostgreSQL)."""
    pubsub = redis.pubsub()
    try:
        await pubsub.subscribe(events.channel(str(job_id)))
    except (RedisError, OSError) as exc:
        log.warning("job_events_subscribe_failed", job_id=str(job_id), error=repr(exc))
        await _close(pubsub)
        return None
    return pubsub


async def _close(pubsub: Any) -> None:
    # Shielded: a client that hung up cancels the stream, and the connection must still go back.
    with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
        try:
            await pubsub.aclose()
        except (RedisError, OSError) as exc:
            log.warning("job_events_close_failed", error=repr(exc))


async def _receive(pubsub: Any | None, timeout_s: float) -> events.JobEvent | None:
    """The next event within ``timeout_s``, or None (also when Redis fails or sends garbage)."""
    if pubsub is None:
        await anyio.sleep(timeout_s)
        return None
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout_s)
    if message is None or message.get("type") != "message":
        return None
    try:
        return events.decode_event(message["data"])
    except (msgspec.DecodeError, msgspec.ValidationError):
        log.warning("job_event_undecodable", channel=str(message.get("channel")))
        return None


async def _read_job(resources: Resources, job_id: uuid.UUID) -> repo.JobRow | None:
    async with resources.pool.acquire() as conn:
        return await repo.get_job(conn, job_id)


async def stream_job_events(
    resources: Resources, job_id: uuid.UUID
) -> AsyncIterator[ServerSentEventMessage]:
    """``status`` first, then every event until a terminal ``status``; ``: ping`` when idle."""
    settings = resources.settings
    pubsub = await _subscribe(resources.redis, job_id)
    try:
        job = await _read_job(resources, job_id)
        if job is None:
            return
        yield _message("status", job.to_wire())
        last_status = job.status
        if last_status in TERMINAL_STATUSES:
            return
        now = time.monotonic()
        next_ping = now + settings.sse_ping_interval_s
        next_resync = now + settings.sse_resync_interval_s
        while True:
            wait_s = max(0.0, min(next_ping, next_resync) - time.monotonic())
            try:
                event = await _receive(pubsub, wait_s)
            except (RedisError, OSError) as exc:
                log.warning("job_events_redis_lost", job_id=str(job_id), error=repr(exc))
                await _close(pubsub)
                pubsub, event = None, None
            if event is not None:
                yield _message(event.event, event.data)
                if event.event == "status" and isinstance(event.data, dict):
                    last_status = str(event.data.get("status"))
                if _is_terminal(event):
                    return
                continue
            now = time.monotonic()
            if now >= next_ping:
                yield ServerSentEventMessage(data=None, comment="ping")
                next_ping = now + settings.sse_ping_interval_s
            if now >= next_resync:
                job = await _read_job(resources, job_id)
                if job is None:
                    return
                if job.status != last_status:
                    last_status = job.status
                    yield _message("status", job.to_wire())
                    if last_status in TERMINAL_STATUSES:
                        return
                next_resync = now + settings.sse_resync_interval_s
    finally:
        if pubsub is not None:
            await _close(pubsub)
