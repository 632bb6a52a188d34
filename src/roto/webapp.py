"""Serves the built web app (web/dist) at ``/`` in the embedded stack; in AWS CloudFront serves it
from the frontend bucket instead. Paths the app does not have fall back to ``index.html`` so the
app's own routes (``/videos/<id>``) load, except under the API's prefixes, which stay 404s."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import structlog
from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import File

from roto.errors import NotFound

log = structlog.get_logger(__name__)

DEFAULT_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
# Prefixes the API owns: an unknown path under them is a problem+json 404, never the app's page.
API_PREFIXES = ("v1", "healthz", "readyz", "metrics", "schema")
# Vite names assets by content hash, so they can be cached for good; index.html must not be.
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


def web_banner(dist: Path | None = None) -> str:
    """How the dev stack's banner describes the app: served, or how to build it."""
    dist = dist or DEFAULT_DIST
    if (dist / "index.html").is_file():
        return "(sign up there to upload, click, propagate and export)"
    return "(not built: `make web`, then restart)"


def is_api_path(path: str) -> bool:
    first = path.lstrip("/").split("/", 1)[0]
    return first in API_PREFIXES


def resolve(dist: Path, path: str) -> Path | None:
    """The file under ``dist`` for ``path``, or None when there is none (or it would escape)."""
    candidate = (dist / path.lstrip("/")).resolve()
    if not candidate.is_relative_to(dist) or not candidate.is_file():
        return None
    return candidate


def web_routes(dist: Path | None = None) -> list[HTTPRouteHandler]:
    """The handler that serves ``dist`` (default web/dist); none, and a log line, when the app
    was not built: the API runs without it."""
    dist = (dist or DEFAULT_DIST).resolve()
    index = dist / "index.html"
    if not index.is_file():
        log.warning("web_app_not_built", dist=str(dist), hint="run `make web` to build it")
        return []

    def serve(path: str) -> Response[bytes] | File:
        if is_api_path(path):
            raise NotFound(f"no route for {path}")
        found = resolve(dist, path)
        if found is None or found == index:
            # Read each time: `make web` while the API runs replaces the hashed assets it names.
            return Response(
                index.read_bytes(),
                media_type="text/html",
                headers={"Cache-Control": NO_CACHE},
            )
        media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        cache = IMMUTABLE if found.parent.name == "assets" else NO_CACHE
        return File(
            found,
            media_type=media_type,
            content_disposition_type="inline",
            headers={"Cache-Control": cache},
        )

    @get("/", include_in_schema=False, sync_to_thread=False)
    def serve_web_root() -> Response[bytes] | File:
        return serve("/")

    @get("/{path:path}", include_in_schema=False, sync_to_thread=False)
    def serve_web_path(path: FromPath[str]) -> Response[bytes] | File:
        return serve(path)

    log.info("web_app_served", dist=str(dist))
    return [serve_web_root, serve_web_path]
