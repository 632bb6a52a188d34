"""The long-lived clients of a process: built once at start, handed to handlers via ``Provide``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from roto import aws, db
from roto.settings import Settings


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
        redis = aioredis.from_url(settings.redis_url, decode_responses=False)
        stack.push_async_callback(redis.aclose)
        s3, sqs = await aws.open_clients(settings, stack)
        queue_urls = await aws.resolve_queue_urls(sqs, settings)
        yield Resources(settings, pool, redis, s3, sqs, queue_urls)
