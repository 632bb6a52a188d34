"""Limits that answer 429 with Retry-After.

Fixed-window counters in Redis: requests per caller, failed sign-ins per email (counted before the
password is checked, so concurrent guesses cannot pass the limit) and unauthenticated auth calls
per client address (bounding the argon2 work one address can cause).

Redis being away does not turn them off: each API process then counts in its own memory
(``LocalWindows``) until Redis answers again. Failing closed would turn a Redis outage into a
sign-in outage; counting locally keeps every limit, per process, so an attacker gets at most the
limit times the number of API processes, and each process's argon2 work stays bounded. After a
Redis error the process counts locally for ``REDIS_RETRY_S`` before trying Redis again, so an
unanswering Redis costs one timeout every few seconds, not one per request.

``UserSlots`` caps what one user holds open at once in this process (event streams, waiting
prompts): each one holds a Redis connection and a task for as long as it lasts.
"""

from __future__ import annotations

import contextlib
import time
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from roto.errors import TooManyRequests
from roto.settings import Settings

log = structlog.get_logger(__name__)

WINDOW_S = 60
#: After Redis failed, count in process memory this long before asking Redis again.
REDIS_RETRY_S = 5.0


def _window(now: float) -> tuple[int, int]:
    """The current window's number and the seconds until the next one starts (at least 1)."""
    return int(now // WINDOW_S), max(WINDOW_S - int(now % WINDOW_S), 1)


def limited(what: str, limit: int, retry_after: int | None = None) -> TooManyRequests:
    """The 429 for more than ``limit`` ``what`` per minute."""
    retry_after = retry_after or _window(time.time())[1]
    return TooManyRequests(
        f"rate limit: more than {limit} {what} per minute; retry in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )


class LocalWindows:
    """This process's own fixed-window counters, used while Redis is away."""

    def __init__(self) -> None:
        self._window = -1
        self._counts: dict[str, int] = {}

    def add(self, key: str, window: int, amount: int) -> int:
        if window != self._window:  # a new minute: the old counts no longer matter
            self._window, self._counts = window, {}
        counted = max(self._counts.get(key, 0) + amount, 0)
        self._counts[key] = counted
        return counted


_local = LocalWindows()
#: When to ask each Redis client again after it failed.
_redis_retry_at: weakref.WeakKeyDictionary[Redis, float] = weakref.WeakKeyDictionary()


async def _add(redis: Redis, key: str, amount: int) -> int:
    """Add ``amount`` to ``key``'s count in this window; the new count (Redis's, or this
    process's own while Redis is away)."""
    window, _ = _window(time.time())
    if time.monotonic() >= _redis_retry_at.get(redis, 0.0):
        counter = f"roto:rl:{key}:{window}"
        try:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.incrby(counter, amount)
                pipe.expire(counter, WINDOW_S * 2)
                counted, _ = await pipe.execute()
            return int(counted)
        except (RedisError, OSError) as exc:
            _redis_retry_at[redis] = time.monotonic() + REDIS_RETRY_S
            log.warning("rate_limit_redis_unavailable", error=repr(exc), local_for_s=REDIS_RETRY_S)
    return _local.add(key, window, amount)


async def count(redis: Redis, key: str) -> int:
    """Count one event against ``key`` in this window; the window's count so far."""
    return await _add(redis, key, 1)


async def give_back(redis: Redis, key: str) -> None:
    """Take back one event counted against ``key`` (it turned out not to count)."""
    await _add(redis, key, -1)


async def hit(redis: Redis, key: str, limit: int, what: str = "requests") -> None:
    """Count one event against ``key`` and raise 429 (with Retry-After) past ``limit``."""
    if limit > 0 and await count(redis, key) > limit:
        raise limited(what, limit)


def client_address(peer: str | None, forwarded_for: str | None, trusted_hops: int) -> str:
    """The caller's address: the peer's, or with ``trusted_hops`` proxies in front (each adding
    the address it was called from to X-Forwarded-For) the one the first of them saw. Entries
    to the left of those are whatever the client wrote, so they are never trusted."""
    peer = peer or "unknown"
    if trusted_hops <= 0:
        return peer
    hops = [part.strip() for part in (forwarded_for or "").split(",") if part.strip()]
    if not hops:
        return peer
    return hops[-trusted_hops] if len(hops) >= trusted_hops else hops[0]


async def limit_auth_call(redis: Redis, settings: Settings, address: str) -> None:
    """Count an unauthenticated auth call (register, login, refresh) against its address."""
    limit = settings.auth_requests_per_address_per_minute
    await hit(redis, f"auth-address:{address}", limit, "sign-in calls from this address")


@dataclass
class UserSlots:
    """At most so many of something open at once per user, in this process. A slot not
    refreshed (``touch``) for ``ttl_s`` is taken back, so one lost by a caller that never
    released it cannot lock its user out."""

    what: str
    retry_after_s: int
    _held: dict[uuid.UUID, dict[int, float]] = field(default_factory=dict)
    _next: int = 0

    def take(self, user_id: uuid.UUID, limit: int, ttl_s: float) -> Slot:
        """A slot for ``user_id``, or 429 (with Retry-After) when ``limit`` are open."""
        now = time.monotonic()
        held = self._held.setdefault(user_id, {})
        for token, expires in list(held.items()):
            if expires <= now:
                del held[token]
        if limit > 0 and len(held) >= limit:
            raise TooManyRequests(
                f"too many {self.what}: at most {limit} at once per user; "
                f"retry in {self.retry_after_s} s",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        self._next += 1
        held[self._next] = now + ttl_s
        return Slot(self, user_id, self._next, ttl_s)

    @contextlib.contextmanager
    def holding(self, user_id: uuid.UUID, limit: int, ttl_s: float) -> Iterator[Slot]:
        slot = self.take(user_id, limit, ttl_s)
        try:
            yield slot
        finally:
            slot.release()

    def open_count(self, user_id: uuid.UUID) -> int:
        return len(self._held.get(user_id, {}))

    def _touch(self, user_id: uuid.UUID, token: int, ttl_s: float) -> None:
        held = self._held.get(user_id)
        if held is not None and token in held:
            held[token] = time.monotonic() + ttl_s

    def _release(self, user_id: uuid.UUID, token: int) -> None:
        held = self._held.get(user_id)
        if held is not None:
            held.pop(token, None)
            if not held:
                del self._held[user_id]


@dataclass
class Slot:
    """One open thing of one user; ``release`` when it ends, ``touch`` while it lasts."""

    slots: UserSlots
    user_id: uuid.UUID
    token: int
    ttl_s: float

    def touch(self) -> None:
        self.slots._touch(self.user_id, self.token, self.ttl_s)

    def release(self) -> None:
        self.slots._release(self.user_id, self.token)
