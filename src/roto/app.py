"""The Litestar application: routes, lifespan-owned clients, errors, metrics and OpenAPI."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from roto.auth import controller as auth
from roto.auth.deps import provide_current_user
from roto.auth.security import jwt_key
from roto.billing import controller as billing
from roto.bodies import StrictBody
from roto.deps import provide_job_origin
from roto.detections import controller as detections
from roto.errors import exception_handlers
from roto.exports import controller as exports
from roto.health.controller import ROUTES as HEALTH_ROUTES
from roto.jobs import controller as jobs
from roto.jobs.outbox import relay_forever
from roto.logging import configure_logging, request_id_middleware
from roto.masks import controller as masks
from roto.objects import controller as objects
from roto.objects import prompts_controller as prompts
from roto.propagations import controller as propagations
from roto.request_spans import request_span_middleware
from roto.resources import Resources, open_resources
from roto.settings import Settings, get_settings
from roto.tracing import start_tracing, stop_tracing
from roto.videos import controller as videos
from roto.videos.expiry import expire_forever
from roto.webapp import web_routes

log = structlog.get_logger(__name__)


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def cors_config(settings: Settings) -> CORSConfig | None:
    """Cross-origin access for the configured origins only; none at all by default (the web
    app is same-origin), so no other site's script can call the API with a user's token."""
    origins = settings.cors_origins
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins,
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-API-Key"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API for ``settings`` (default: the process environment)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    jwt_key(settings)  # refuse to start with an empty signing key, not at the first login

    @contextlib.asynccontextmanager
    async def traces(app: Litestar) -> AsyncIterator[None]:
        """This process's spans, from before the clients open until after they close."""
        if not start_tracing(settings, "api"):
            yield
            return
        try:
            yield
        finally:
            stop_tracing()  # exports the spans still waiting

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            app.state.resources = resources
            relay = asyncio.create_task(
                relay_forever(
                    resources.pool,
                    resources.sqs,
                    resources.queue_urls,
                    settings.outbox_poll_interval_s,
                    resources.outbox_wake,
                ),
                name="outbox-relay",
            )
            expiry = asyncio.create_task(expire_forever(resources), name="upload-expiry")
            log.info("api_started", env=settings.env, port=settings.port)
            try:
                yield
            finally:
                for task in (relay, expiry):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    def provide_resources(state: State) -> Resources:
        resources: Resources = state.resources
        return resources

    # Everything about one video, under its id; a job created here names its origin.
    one_video = Router(
        "/v1/videos/{video_id:str}",
        route_handlers=[
            videos.resource,
            objects.router,
            prompts.router,
            detections.router,
            masks.router,
            propagations.router,
            propagations.spans_router,
            exports.router,
        ],
        dependencies={"origin": Provide(provide_job_origin)},
    )
    prometheus = PrometheusConfig(
        app_name="roto_api", prefix="roto_api", group_path=True, exclude=["/metrics"]
    )
    return Litestar(
        route_handlers=[
            *HEALTH_ROUTES,
            auth.auth_router,
            auth.me_router,
            auth.api_keys_router,
            videos.collection,
            one_video,
            jobs.router,
            billing.router,
            MetricsController,
            *web_routes(),
        ],
        dependencies={
            "resources": Provide(provide_resources, sync_to_thread=False),
            "user": Provide(provide_current_user),
        },
        # Every handler's ``data`` is decoded strictly into its declared type (roto.bodies).
        dto=StrictBody,
        return_dto=None,
        lifespan=[traces, lifespan],
        exception_handlers=exception_handlers,
        middleware=[request_id_middleware, request_span_middleware, prometheus.middleware],
        cors_config=cors_config(settings),
        openapi_config=OpenAPIConfig(
            title="Megaton Roto API",
            version="1.0.0",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                    "apiKey": SecurityScheme(
                        type="apiKey", name="X-API-Key", security_scheme_in="header"
                    ),
                }
            ),
            security=[{"bearer": []}, {"apiKey": []}],
        ),
        debug=False,
    )
