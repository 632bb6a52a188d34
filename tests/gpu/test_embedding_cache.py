"""The frame-embedding caches on a real Redis: round trip, TTL, the count bound evicting the least
recently used, unreadable entries, Redis being away, and the in-process layer in front."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis

from roto.devstack.services import free_port
from roto_gpu.frame_embeddings import EmbeddingCache, FrameEmbeddings
from roto_gpu.model.embedding import Embedding

FLOAT16_RELATIVE_ERROR = 2.0**-11


def sample(seed: int) -> Embedding:
    rng = np.random.default_rng(seed)
    return Embedding(
        image_embed=rng.normal(0, 1, (32, 4, 4)).astype(np.float32),
        high_res_feats=(
            rng.normal(0, 1, (4, 16, 16)).astype(np.float32),
            rng.normal(0, 1, (8, 8, 8)).astype(np.float32),
        ),
        orig_hw=(48, 80),
    )


@pytest.fixture
async def redis(services: Any) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(services.redis.url, decode_responses=False)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    """Keys of this test only: every test shares the session's Redis."""
    return f"test:{uuid.uuid4().hex[:8]}:"


def make_cache(redis: aioredis.Redis, prefix: str, **options: Any) -> EmbeddingCache:
    values: dict[str, Any] = {"ttl_s": 600, "max_entries": 10}
    values.update(options)
    return EmbeddingCache(redis, index_key=prefix + "index", **values)


async def test_put_then_get_returns_the_embedding_within_float16_rounding_with_a_ttl(
    redis: aioredis.Redis, prefix: str
) -> None:
    cache = make_cache(redis, prefix, ttl_s=600)
    original = sample(0)
    await cache.put(prefix + "a", original)

    got = await cache.get(prefix + "a")

    assert got is not None and got.orig_hw == original.orig_hw
    for after, before in zip(got.arrays, original.arrays, strict=True):
        np.testing.assert_allclose(after, before, rtol=FLOAT16_RELATIVE_ERROR, atol=1e-7)
    assert 590 <= await redis.ttl(prefix + "a") <= 600
    assert await cache.get(prefix + "missing") is None


async def test_the_count_bound_evicts_the_least_recently_used(
    redis: aioredis.Redis, prefix: str
) -> None:
    cache = make_cache(redis, prefix, max_entries=2)
    await cache.put(prefix + "a", sample(1))
    await asyncio.sleep(0.01)
    await cache.put(prefix + "b", sample(2))
    await asyncio.sleep(0.01)
    await cache.put(prefix + "c", sample(3))

    assert await redis.exists(prefix + "a") == 0
    assert await cache.get(prefix + "a") is None
    assert await redis.zcard(prefix + "index") == 2

    # Using b makes c the least recently used, so the next put evicts c.
    await asyncio.sleep(0.01)
    assert await cache.get(prefix + "b") is not None
    await asyncio.sleep(0.01)
    await cache.put(prefix + "d", sample(4))
    kept = {key.decode() for key in await redis.zrange(prefix + "index", 0, -1)}
    assert kept == {prefix + "b", prefix + "d"}
    assert await redis.exists(prefix + "c") == 0


async def test_an_unreadable_entry_is_a_miss_and_is_dropped(
    redis: aioredis.Redis, prefix: str
) -> None:
    cache = make_cache(redis, prefix)
    await cache.put(prefix + "a", sample(5))
    await redis.set(prefix + "a", b"not an embedding")

    assert await cache.get(prefix + "a") is None
    assert await redis.exists(prefix + "a") == 0
    assert await redis.zcard(prefix + "index") == 0


async def test_a_zero_bound_turns_the_cache_off(redis: aioredis.Redis, prefix: str) -> None:
    cache = make_cache(redis, prefix, max_entries=0)
    await cache.put(prefix + "a", sample(6))
    assert await redis.exists(prefix + "a") == 0
    assert await cache.get(prefix + "a") is None


async def test_redis_being_away_reads_as_a_miss_and_a_put_does_not_raise(prefix: str) -> None:
    away = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    try:
        cache = make_cache(away, prefix)
        await cache.put(prefix + "a", sample(7))
        assert await cache.get(prefix + "a") is None
    finally:
        await away.aclose()


class CountingEncoder:
    """An encoder stand-in that counts its calls and can be made slow."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls = 0
        self.delay_s = delay_s

    async def __call__(self) -> Embedding:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        return sample(100 + self.calls)


async def test_frame_embeddings_come_from_memory_then_redis_then_the_encoder(
    redis: aioredis.Redis, prefix: str
) -> None:
    cache = make_cache(redis, prefix)
    encode = CountingEncoder()
    first = FrameEmbeddings(cache, local_entries=4)
    embedding, source = await first.get(prefix + "f", encode)
    again, again_source = await first.get(prefix + "f", encode)
    await first.close()  # the Redis write runs in the background

    other = FrameEmbeddings(cache, local_entries=4)
    shared, shared_source = await other.get(prefix + "f", encode)

    assert (source, again_source, shared_source) == ("encoder", "memory", "redis")
    assert again is embedding
    assert encode.calls == 1
    np.testing.assert_allclose(shared.image_embed, embedding.image_embed, rtol=1e-3)


async def test_concurrent_misses_on_one_frame_run_the_encoder_once(
    redis: aioredis.Redis, prefix: str
) -> None:
    encode = CountingEncoder(delay_s=0.2)
    embeddings = FrameEmbeddings(make_cache(redis, prefix), local_entries=0)

    got = await asyncio.gather(*(embeddings.get(prefix + "f", encode) for _ in range(3)))
    await embeddings.close()

    assert encode.calls == 1
    assert all(embedding is got[0][0] for embedding, _ in got)


async def test_a_failed_encoder_pass_lets_the_waiting_jobs_try_on_their_own(
    redis: aioredis.Redis, prefix: str
) -> None:
    calls = 0

    async def flaky() -> Embedding:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)
        if calls == 1:
            raise RuntimeError("encoder failed")
        return sample(9)

    embeddings = FrameEmbeddings(make_cache(redis, prefix), local_entries=2)
    first, second = await asyncio.gather(
        embeddings.get(prefix + "f", flaky),
        embeddings.get(prefix + "f", flaky),
        return_exceptions=True,
    )
    await embeddings.close()

    assert isinstance(first, RuntimeError)
    assert not isinstance(second, BaseException) and second[1] == "encoder"
    assert calls == 2
