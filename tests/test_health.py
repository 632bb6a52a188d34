from __future__ import annotations

from litestar.testing import AsyncTestClient


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
