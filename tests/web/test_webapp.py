"""The embedded stack serves the built web app at ``/`` without hiding any API path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from structlog.testing import capture_logs

from roto import webapp
from roto.app import create_app
from roto.settings import Settings

INDEX = b"<!doctype html><title>Megaton Roto</title><div id=root></div>"


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    built = tmp_path / "dist"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_bytes(INDEX)
    (built / "assets" / "index-abc123.js").write_text("console.log('roto')")
    (built / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside dist")
    monkeypatch.setattr(webapp, "DEFAULT_DIST", built)
    return built


@pytest.fixture
async def web_client(dist: Path, settings: Settings) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(settings), timeout=30) as client:
        yield client


async def test_root_serves_index_html_uncached(web_client: AsyncTestClient) -> None:
    response = await web_client.get("/")
    assert response.status_code == 200
    assert response.content == INDEX
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"


async def test_app_routes_fall_back_to_index_html(web_client: AsyncTestClient) -> None:
    response = await web_client.get("/videos/0b7c9d1e-0000-4000-8000-000000000000")
    assert response.status_code == 200
    assert response.content == INDEX


async def test_hashed_assets_are_served_with_long_cache(web_client: AsyncTestClient) -> None:
    response = await web_client.get("/assets/index-abc123.js")
    assert response.status_code == 200
    assert response.text == "console.log('roto')"
    assert "javascript" in response.headers["content-type"]
    assert "immutable" in response.headers["cache-control"]


async def test_unknown_api_paths_stay_problem_json_404(web_client: AsyncTestClient) -> None:
    for path in ("/v1/no-such-thing", "/v1/videos/x/y/z", "/healthz/x", "/metrics/x"):
        response = await web_client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json"), path


async def test_unknown_schema_paths_are_not_the_app(web_client: AsyncTestClient) -> None:
    response = await web_client.get("/schema/nope.txt")
    assert response.status_code == 404
    assert response.content != INDEX


async def test_api_operations_are_not_shadowed(web_client: AsyncTestClient) -> None:
    assert (await web_client.get("/healthz")).json() == {"status": "ok"}
    assert (await web_client.get("/schema/openapi.json")).json()["openapi"].startswith("3.1")
    assert "roto_api_requests_total" in (await web_client.get("/metrics")).text
    assert (await web_client.get("/v1/videos")).status_code == 401


async def test_paths_outside_dist_are_not_served(web_client: AsyncTestClient) -> None:
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
        response = await web_client.get(path)
        assert b"outside dist" not in response.content, path


def test_without_a_build_the_api_starts_and_says_so(tmp_path: Path) -> None:
    with capture_logs() as logs:
        routes = webapp.web_routes(tmp_path / "missing")
    assert routes == []
    assert [entry["event"] for entry in logs] == ["web_app_not_built"]


async def test_without_a_build_root_is_404_and_api_answers(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webapp, "DEFAULT_DIST", tmp_path / "missing")
    async with AsyncTestClient(app=create_app(settings), timeout=30) as client:
        assert (await client.get("/")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200


def test_resolve_refuses_paths_that_escape_dist(dist: Path) -> None:
    assert webapp.resolve(dist.resolve(), "favicon.svg") == (dist / "favicon.svg").resolve()
    assert webapp.resolve(dist.resolve(), "../secret.txt") is None
    assert webapp.resolve(dist.resolve(), "assets") is None


def test_the_dev_stack_banner_says_whether_the_app_is_built(dist: Path, tmp_path: Path) -> None:
    assert "sign up" in webapp.web_banner(dist)
    assert "make web" in webapp.web_banner(tmp_path / "missing")
