"""Redis pub/sub connections kept between watches.

redis-py closes a ``PubSub``'s connection when the ``PubSub`` is closed and hands it back to the
client's pool disconnected, so every watch (each ``?wait=`` click, each event stream) used to
pay a TCP connect and the HELLO handshake when the next command took that connection. Here a
watch that ended cleanly unsubscribes and leaves its ``PubSub`` for the next one, which only
sends its SUBSCRIBE. A reused ``PubSub`` can still deliver a message of its earlier channel
(sent before the UNSUBSCRIBE reached Redis), so readers check each message's channel.

Only a watch that ended between reads gives its ``PubSub`` back: one whose read was cut off
(a cancel, a Redis error) may have left half a reply on the connection, and is closed.
"""

from __future__ import annotations

from typing import Any

import anyio
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

#: Idle ``PubSub``s kept at most; each holds one connection of the client's bounded pool.
KEEP_IDLE = 4
CLOSE_TIMEOUT_S = 2.0
REDIS_ERRORS = (RedisError, OSError, TimeoutError)


class Subscribers:
    """This process's idle ``PubSub``s, newest last."""

    def __init__(self, keep: int = KEEP_IDLE) -> None:
        self._keep = keep
        self._idle: list[Any] = []

    @property
    def idle(self) -> int:
        return len(self._idle)

    def take(self, redis: Redis) -> Any:
        """An idle ``PubSub``, else a new one of ``redis`` (it connects on its first SUBSCRIBE).
        One ``Subscribers`` serves one Redis client (``Resources`` holds one of each)."""
        return self._idle.pop() if self._idle else redis.pubsub()

    async def give_back(self, pubsub: Any, *, reusable: bool) -> None:
        """Unsubscribe ``pubsub`` and keep it for the next watch; close it instead when it is
        not ``reusable``, when enough are kept, or when the UNSUBSCRIBE fails or hangs.
        Shielded: a client that hung up cancels its watch, and the connection must still go
        back."""
        with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
            kept = reusable and len(self._idle) < self._keep and await _unsubscribed(pubsub)
            if kept and len(self._idle) < self._keep:  # others may have come back meanwhile
                self._idle.append(pubsub)
                return
        with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
            await close(pubsub)

    async def close_all(self) -> None:
        idle, self._idle = self._idle, []
        for pubsub in idle:
            await close(pubsub)


async def _unsubscribed(pubsub: Any) -> bool:
    try:
        await pubsub.unsubscribe()  # sent only: the next user reads its reply
    except REDIS_ERRORS as exc:
        log.info("subscriber_not_kept", error=repr(exc))
        return False
    return True


async def close(pubsub: Any) -> None:
    """Close ``pubsub``'s connection (handed back to the pool disconnected)."""
    try:
        await pubsub.aclose()
    except REDIS_ERRORS as exc:
        log.warning("subscriber_close_failed", error=repr(exc))
