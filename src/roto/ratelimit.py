"""Fixed-window counters in Redis: per-caller request limits and failed sign-ins per email.

Redis being down lets requests through (logged): losing Redis costs protection, never service.
"""

from __future__ import annotations

import time

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from roto.errors import TooManyRequests

log = structlog.get_logger(__name__)

WINDOW_S = 60


def _window(now: float) -> tuple[int, int]:
    """The current window's number and the seconds until the next one starts (at least 1)."""
    return int(now // WINDOW_S), max(WINDOW_S - int(now % WINDOW_S), 1)


def _limited(what: str, limit: int, retry_after: int) -> TooManyRequests:
    return TooManyRequests(
        f"rate limit: more than {limit} {what} per minute; retry in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )


async def count(redis: Redis, key: str) -> int | None:
    """Count one event against ``key`` in this window; the window's count, None without Redis."""
    window, _ = _window(time.time())
    counter = f"roto:rl:{key}:{window}"
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(counter)
            pipe.expire(counter, WINDOW_S * 2)
            counted, _ = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("rate_limit_unavailable", error=repr(exc))
        return None
    return int(counted)


async def hit(redis: Redis, key: str, limit: int, what: str = "requests") -> None:
    """Count one event against ``key`` and raise 429 (with Retry-After) past ``limit``."""
    if limit <= 0:
        return
    counted = await count(redis, key)
    if counted is not None and counted > limit:
        raise _limited(what, limit, _window(time.time())[1])


async def check(redis: Redis, key: str, limit: int, what: str) -> None:
    """Raise 429 if ``key`` already reached ``limit`` in this window, without counting."""
    if limit <= 0:
        return
    window, retry_after = _window(time.time())
    try:
        count = await redis.get(f"roto:rl:{key}:{window}")
    except (RedisError, OSError) as exc:
        log.warning("rate_limit_unavailable", error=repr(exc))
        return
    if count is not None and int(count) >= limit:
        raise _limited(what, limit, retry_after)
