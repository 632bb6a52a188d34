"""Cross-origin access: none by default (the web app is served by the API itself), and only the
origins named in ROTO_CORS_ALLOWED_ORIGINS when it is set."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

APP = "https://app.example.com"
EVIL = "https://evil.example"


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }


async def test_by_default_no_other_origin_may_call_the_api(client: AsyncTestClient) -> None:
    asked = await client.options("/v1/videos", headers=preflight(EVIL))
    read = await client.get("/healthz", headers={"Origin": EVIL})

    assert "access-control-allow-origin" not in asked.headers
    assert "access-control-allow-origin" not in read.headers


@pytest.mark.parametrize("settings", [{"cors_allowed_origins": f" {APP} ,"}], indirect=True)
async def test_only_the_configured_origins_may_call_the_api(client: AsyncTestClient) -> None:
    allowed = await client.options("/v1/videos", headers=preflight(APP))
    refused = await client.options("/v1/videos", headers=preflight(EVIL))
    read = await client.get("/healthz", headers={"Origin": APP})

    assert allowed.headers["access-control-allow-origin"] == APP
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert refused.headers.get("access-control-allow-origin") not in {EVIL, "*"}
    assert read.headers["access-control-allow-origin"] == APP
    assert "retry-after" in read.headers["access-control-expose-headers"].lower()
