"""Job events on Redis pub/sub: what workers publish and the SSE endpoint forwards."""

from __future__ import annotations

from typing import Any

import msgspec
import redis.asyncio as aioredis

from roto.jobs.schemas import Job


class JobEvent(msgspec.Struct, frozen=True):
    """One server-sent event: ``event`` is ``status``, ``progress`` or ``masks``."""

    event: str
    data: Any


def channel(job_id: str) -> str:
    return f"roto:job:{job_id}:events"


async def publish(redis: aioredis.Redis, job_id: str, event: str, data: Any) -> None:
    """Publish an event; Redis being down loses the live event, never the job state."""
    await redis.publish(channel(job_id), msgspec.json.encode(JobEvent(event, data)))


async def publish_status(redis: aioredis.Redis, job: Job) -> None:
    await publish(redis, job.id, "status", job)


async def publish_progress(redis: aioredis.Redis, job_id: str, done: int, total: int) -> None:
    await publish(redis, job_id, "progress", {"done": done, "total": total})


def decode_event(raw: bytes) -> JobEvent:
    return msgspec.json.decode(raw, type=JobEvent)
