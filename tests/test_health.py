from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from roto.app import create_app
from roto.settings import Settings
from tests.factories import signup
from tests.faults.proxy import BLACKHOLE, TcpProxy, proxy


async def test_healthz_answers_ok(client: AsyncTestClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_every_dependency(client: AsyncTestClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert set(checks) == {
        "postgres",
        "redis",
        "s3",
        "queue_interactive",
        "queue_batch",
        "queue_media",
    }
    assert all(state == "ok" for state in checks.values())


async def test_openapi_schema_is_served(client: AsyncTestClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")


async def test_metrics_are_prometheus_text(client: AsyncTestClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "roto_api_requests_total" in response.text


@pytest.fixture
def black_hole() -> Iterator[TcpProxy]:
    """A Redis address that accepts connections and never answers."""
    with proxy("127.0.0.1", 1, mode=BLACKHOLE) as hole:
        yield hole


async def test_a_black_holed_redis_costs_seconds_not_a_hang(
    settings: Settings, black_hole: TcpProxy
) -> None:
    # The default ROTO_REDIS_TIMEOUT_S (2 s).
    settings = msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{black_hole.port}/0")
    async with AsyncTestClient(app=create_app(settings), timeout=30) as client:
        started = time.monotonic()
        ready = await asyncio.wait_for(client.get("/readyz"), 10)
        readyz_s = time.monotonic() - started
        # Redis backs the rate limit of every authenticated call: they go on, counted in
        # process memory after the first timeout.
        headers = await signup(client)
        started = time.monotonic()
        listed = [await asyncio.wait_for(client.get("/v1/videos", headers=headers), 10)]
        first_s = time.monotonic() - started
        for _ in range(5):
            listed.append(await asyncio.wait_for(client.get("/v1/videos", headers=headers), 10))
        others_s = time.monotonic() - started - first_s

    assert ready.status_code == 503
    body = ready.json()
    assert body["detail"] == "not ready: redis"
    assert "Timeout" in body["checks"]["redis"]
    assert body["checks"]["postgres"] == "ok"
    assert readyz_s < 5
    assert [answer.status_code for answer in listed] == [200] * 6
    assert first_s < 6  # one timeout of 2 s, retried once
    assert others_s < 1  # then no Redis call until REDIS_RETRY_S has passed
