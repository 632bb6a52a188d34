"""Fixtures: real PostgreSQL, Redis and moto's S3+SQS server, started once per test session;
each test gets its own database (cloned from a migrated template), bucket and queues."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import pytest
from litestar.testing import AsyncTestClient

from roto import aws, db
from roto.app import create_app
from roto.devstack.services import LOCAL_AWS_ENV, MotoServer, Postgres, RedisServer
from roto.resources import Resources, open_resources
from roto.settings import Settings, load_settings
from tests.factories import signup
from tests.faults.support import TALLY_PROPERTY, render_tally
from tests.videos.live import live

__all__ = ["live"]

TEMPLATE_DB = "roto_template"
#: The fault tests' rows, from their reports (this hook runs where the reports arrive: in the
#: pytest process itself, or in pytest-xdist's controller).
_fault_rows: list[dict[str, Any]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _fault_rows.extend(row for name, row in report.user_properties if name == TALLY_PROPERTY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _fault_rows:
        terminalreporter.section("faults injected")
        for line in render_tally(_fault_rows):
            terminalreporter.write_line(line)


class Services:
    def __init__(self, root: Path) -> None:
        self.postgres = Postgres.start(root / "pg")
        self.redis = RedisServer.start(root / "redis", persist=False)
        self.moto = MotoServer.start(log_path=root / "moto.log")


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    os.environ.update(LOCAL_AWS_ENV)
    # Not under pytest's tmp_path: a concurrent pytest run prunes and re-permissions that tree,
    # which would pull the data directory from under the running PostgreSQL.
    root = Path(tempfile.mkdtemp(prefix="roto-services-"))
    svc = Services(root)
    asyncio.run(_make_template(svc.postgres))
    yield svc
    svc.moto.stop()
    svc.redis.stop()
    svc.postgres.stop()
    shutil.rmtree(root, ignore_errors=True)


async def as_admin(pg: Postgres, *statements: str) -> None:
    """Run ``statements`` on the server's maintenance database (creating and dropping
    databases), on a connection of their own."""
    admin = await asyncpg.connect(pg.dsn())
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


async def _make_template(pg: Postgres) -> None:
    await as_admin(pg, f"DROP DATABASE IF EXISTS {TEMPLATE_DB}", f"CREATE DATABASE {TEMPLATE_DB}")
    await db.migrate_dsn(pg.dsn(TEMPLATE_DB))


def make_settings(services: Services, database: str, tag: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": services.postgres.dsn(database),
        "database_pool_max": 5,
        "redis_url": services.redis.url,
        "aws_endpoint_url": services.moto.endpoint,
        "s3_bucket": f"roto-{tag}",
        "queue_interactive": f"{tag}-interactive",
        "queue_batch": f"{tag}-batch",
        "queue_media": f"{tag}-media",
        "jwt_secret": "test-secret-" + tag + "-" + "x" * 24,
        "log_json": False,
        "log_level": "WARNING",
        "outbox_poll_interval_s": 0.2,
        "worker_wait_time_s": 1,
        "worker_visibility_timeout_s": 10,
        "worker_heartbeat_interval_s": 2.0,
        "worker_drain_timeout_s": 10.0,
        "worker_liveness_path": str(Path(tempfile.gettempdir()) / f"roto-heartbeat-{tag}"),
        # Every test's requests come from one client address into one Redis: the per-address
        # limit on auth calls would count the whole session. Its own tests turn it on.
        "auth_requests_per_address_per_minute": 0,
        # Most tests take clicks' jobs from SQS (some with a stand-in daemon that reads only
        # SQS): the fast lane would hold their messages back. Its own tests, and the dev stack's,
        # turn it on.
        "job_lane": False,
    }
    values.update(overrides)
    return load_settings({}, **values)


async def provision(settings: Settings) -> None:
    """Create the bucket and queues of ``settings`` on the local endpoint."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        s3, sqs = await aws.open_clients(settings, stack)
        await aws.ensure_bucket(s3, settings)
        await aws.ensure_queues(sqs, settings)


@pytest.fixture
async def settings(services: Services, request: pytest.FixtureRequest) -> AsyncIterator[Settings]:
    tag = "t" + uuid.uuid4().hex[:12]
    await as_admin(services.postgres, f"CREATE DATABASE {tag} TEMPLATE {TEMPLATE_DB}")
    overrides = getattr(request, "param", None) or {}
    value = make_settings(services, tag, tag, **overrides)
    await provision(value)
    yield value
    Path(value.worker_liveness_path).unlink(missing_ok=True)  # a worker's beat, if one ran
    await as_admin(services.postgres, f"DROP DATABASE IF EXISTS {tag} WITH (FORCE)")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    app = create_app(settings)
    async with AsyncTestClient(app=app, timeout=30) as test_client:
        yield test_client


@pytest.fixture
async def headers(client: AsyncTestClient) -> dict[str, str]:
    """Auth headers of a fresh user."""
    return await signup(client)


@pytest.fixture
async def other_headers(client: AsyncTestClient) -> dict[str, str]:
    """Auth headers of a second, unrelated user."""
    return await signup(client)


@pytest.fixture
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    """The clients of a worker process on the test's own database, bucket and queues."""
    async with open_resources(settings) as value:
        yield value


@pytest.fixture
def s3_sync(settings: Settings, services: Services) -> object:
    """A plain boto3 S3 client on the local endpoint, for assertions about stored objects."""
    return boto3.client("s3", endpoint_url=services.moto.endpoint, region_name="us-east-1")


@pytest.fixture
def sqs_sync(settings: Settings, services: Services) -> object:
    return boto3.client("sqs", endpoint_url=services.moto.endpoint, region_name="us-east-1")
