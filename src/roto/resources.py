"""The long-lived clients of a process: built once at start, handed to handlers via ``Provide``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from roto import aws, db
from roto.emf import MetricLog
from roto.ratelimit import UserSlots
from roto.settings import Settings
from roto.subscribers import Subscribers


@dataclass(frozen=True)
class Resources:
    """Clients shared by the handlers of one process."""

    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    s3: Any
    sqs: Any
    queue_urls: dict[str, str]
    # Set after a commit that wrote outbox rows, so the relay sends them at once.
    outbox_wake: asyncio.Event = field(default_factory=asyncio.Event)
    # What each user holds open in this process (the API's caps per user).
    event_streams: UserSlots = field(default_factory=lambda: UserSlots("open event streams", 5))
    prompt_waits: UserSlots = field(default_factory=lambda: UserSlots("waiting prompts", 1))
    # Pub/sub connections kept between job watches (no connect per watch).
    subscribers: Subscribers = field(default_factory=Subscribers)
    # CloudWatch metrics (EMF lines on stdout; off unless ``metrics_emf``).
    metrics: MetricLog = field(default_factory=MetricLog.off)


def open_redis(settings: Settings) -> aioredis.Redis:
    """A client on a bounded pool: at most ``redis_max_connections`` connections, and every
    wait (for a pooled connection, to connect, for an answer) ends after ``redis_timeout_s``,
    so an unanswering Redis fails a command quickly instead of stalling the request. A failed
    command is retried once at once (a connection Redis dropped), not with backoff."""
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout_s,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        retry=Retry(NoBackoff(), 1),
    )
    return aioredis.Redis.from_pool(pool)


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Open the pool, Redis and the AWS clients; close them all on exit."""
    async with AsyncExitStack() as stack:
        pool = await db.create_pool(
            settings.database_url,
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
        )
        stack.push_async_callback(pool.close)
        redis = open_redis(settings)
        stack.push_async_callback(redis.aclose)
        s3, sqs = await aws.open_clients(settings, stack)
        queue_urls = await aws.resolve_queue_urls(sqs, settings)
        metrics = MetricLog.from_settings(settings)
        resources = Resources(settings, pool, redis, s3, sqs, queue_urls, metrics=metrics)
        stack.push_async_callback(resources.subscribers.close_all)
        yield resources
