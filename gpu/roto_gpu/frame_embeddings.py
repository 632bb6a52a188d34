"""Frame embeddings kept for the next click on the same frame: in Redis, shared by every daemon and
bounded by a TTL and a count, and in front of it a few in this process's own memory (the model
keeps device copies of those same objects, so a repeated click there skips the host-to-device copy).

Losing Redis loses speed, never a mask: every Redis error here is logged and read as a miss.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import structlog
from redis.exceptions import RedisError

from roto_gpu.model.embedding import Embedding

log = structlog.get_logger(__name__)

#: Sorted set of the cached embeddings' keys, scored by their last use (Unix time).
INDEX_KEY = "roto:emb:index"

EmbeddingSource = Literal["memory", "redis", "encoder"]


class EmbeddingCache:
    """Each embedding under its own key with a TTL that every use renews, plus one index of keys
    by last use; a put that takes the index past ``max_entries`` evicts the least recently used."""

    def __init__(self, redis: Any, *, ttl_s: int, max_entries: int, index_key: str = INDEX_KEY):
        self._redis = redis
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.index_key = index_key

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0 and self.max_entries > 0

    async def get(self, key: str) -> Embedding | None:
        """The cached embedding under ``key`` (its use renews it), or None."""
        if not self.enabled:
            return None
        try:
            data = await self._redis.get(key)
            if data is None:
                return None
            # Wall-clock time, not monotonic: scores are compared across processes and machines.
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.expire(key, self.ttl_s)
                pipe.zadd(self.index_key, {key: time.time()}, xx=True)
                await pipe.execute()
        except RedisError as exc:
            log.warning("embedding_cache_unavailable", op="get", error=repr(exc))
            return None
        try:
            return await asyncio.to_thread(Embedding.from_bytes, data)
        except ValueError as exc:
            log.warning("embedding_cache_entry_unreadable", key=key, error=str(exc))
            await self._drop(key)
            return None

    async def put(self, key: str, embedding: Embedding) -> None:
        """Store ``embedding`` under ``key`` and trim the cache to its bound."""
        if not self.enabled:
            return
        try:
            data = await asyncio.to_thread(embedding.to_bytes)
        except ValueError as exc:  # values float16 cannot hold: the next click encodes again
            log.warning("embedding_not_cacheable", key=key, error=str(exc))
            return
        now = time.time()
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(key, data, ex=self.ttl_s)
                pipe.zadd(self.index_key, {key: now})
                # Index entries of keys whose TTL ran out.
                pipe.zremrangebyscore(self.index_key, "-inf", now - self.ttl_s)
                pipe.zcard(self.index_key)
                *_, count = await pipe.execute()
            if count > self.max_entries:
                # ZPOPMIN hands each evicted key to one caller only, so daemons trimming at the
                # same time never evict more than the excess between them.
                evicted = await self._redis.zpopmin(self.index_key, count - self.max_entries)
                if evicted:
                    await self._redis.delete(*(member for member, _ in evicted))
        except RedisError as exc:
            log.warning("embedding_cache_unavailable", op="put", error=repr(exc))

    async def _drop(self, key: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.zrem(self.index_key, key)
                await pipe.execute()
        except RedisError as exc:
            log.warning("embedding_cache_unavailable", op="drop", error=repr(exc))


class FrameEmbeddings:
    """Where a job gets a frame's embedding: this process's memory, then Redis, then the encoder
    (whose result goes to both). Concurrent misses on one frame share a single encoder pass."""

    def __init__(self, cache: EmbeddingCache, *, local_entries: int) -> None:
        self.cache = cache
        self._local_entries = local_entries
        self._local: collections.OrderedDict[str, Embedding] = collections.OrderedDict()
        self._loading: dict[str, asyncio.Future[Embedding]] = {}
        self._writes: set[asyncio.Task[None]] = set()

    async def get(
        self, key: str, encode: Callable[[], Awaitable[Embedding]]
    ) -> tuple[Embedding, EmbeddingSource]:
        """The embedding under ``key`` and where it came from; ``encode`` runs on a miss."""
        local = self._local.get(key)
        if local is not None:
            self._local.move_to_end(key)
            return local, "memory"
        loading = self._loading.get(key)
        if loading is not None:
            # Another job is loading this frame: wait for it; if it failed, try on our own.
            await asyncio.wait([loading])
            if not loading.cancelled():
                return loading.result(), "memory"
        future: asyncio.Future[Embedding] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            embedding, source = await self._load(key, encode)
        except BaseException:
            future.cancel()
            raise
        finally:
            if self._loading.get(key) is future:
                del self._loading[key]
        future.set_result(embedding)
        self._remember(key, embedding)
        return embedding, source

    async def close(self) -> None:
        """Finish the Redis writes still under way."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def _load(
        self, key: str, encode: Callable[[], Awaitable[Embedding]]
    ) -> tuple[Embedding, EmbeddingSource]:
        cached = await self.cache.get(key)
        if cached is not None:
            return cached, "redis"
        embedding = await encode()
        # Written in the background: the mask need not wait for megabytes to reach Redis.
        task = asyncio.create_task(self.cache.put(key, embedding), name=f"cache-put {key}")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return embedding, "encoder"

    def _remember(self, key: str, embedding: Embedding) -> None:
        if self._local_entries <= 0:
            return
        self._local[key] = embedding
        self._local.move_to_end(key)
        while len(self._local) > self._local_entries:
            self._local.popitem(last=False)
