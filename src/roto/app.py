"""The Litestar application: routes, lifespan-owned clients, errors, metrics and OpenAPI."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from roto.auth.controller import ROUTES as AUTH_ROUTES
from roto.auth.deps import provide_current_user
from roto.auth.security import jwt_key
from roto.billing.controller import ROUTES as BILLING_ROUTES
from roto.errors import exception_handlers
from roto.exports.controller import ROUTES as EXPORT_ROUTES
from roto.health.controller import ROUTES as HEALTH_ROUTES
from roto.jobs.controller import ROUTES as JOB_ROUTES
from roto.jobs.outbox import relay_forever
from roto.logging import configure_logging, request_id_middleware
from roto.masks.controller import ROUTES as MASK_ROUTES
from roto.objects.controller import ROUTES as OBJECT_ROUTES
from roto.propagations.controller import ROUTES as PROPAGATION_ROUTES
from roto.resources import Resources, open_resources
from roto.settings import Settings, get_settings
from roto.videos.controller import ROUTES as VIDEO_ROUTES
from roto.webapp import web_routes

log = structlog.get_logger(__name__)


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API for ``settings`` (default: the process environment)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    jwt_key(settings)  # refuse to start with an empty signing key, not at the first login

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
            log.info("api_started", env=settings.env, port=settings.port)
            try:
                yield
            finally:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay

    def provide_resources(state: State) -> Resources:
        resources: Resources = state.resources
        return resources

    prometheus = PrometheusConfig(
        app_name="roto_api", prefix="roto_api", group_path=True, exclude=["/metrics"]
    )
    return Litestar(
        route_handlers=[
            *HEALTH_ROUTES,
            *AUTH_ROUTES,
            *VIDEO_ROUTES,
            *JOB_ROUTES,
            *OBJECT_ROUTES,
            *MASK_ROUTES,
            *PROPAGATION_ROUTES,
            *BILLING_ROUTES,
            *EXPORT_ROUTES,
            MetricsController,
            *web_routes(),
        ],
        dependencies={
            "resources": Provide(provide_resources, sync_to_thread=False),
            "user": Provide(provide_current_user),
        },
        lifespan=[lifespan],
        exception_handlers=exception_handlers,
        middleware=[request_id_middleware, prometheus.middleware],
        cors_config=CORSConfig(allow_origins=["*"], expose_headers=["X-Request-ID", "Retry-After"]),
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
