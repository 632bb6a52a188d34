"""The local services a benchmark runs against: moto's S3 and SQS over HTTP (with the local AWS
environment set in this process), and PostgreSQL and Redis when asked, all in one temporary
folder. PostgreSQL comes with the benchmark's database (``DATABASE``) created and migrated.
Whatever happens in the benchmark, each service that started is stopped and the folder removed on
the way out, the last started first.

    with local_services("export", postgres=True, redis=True) as services:
        settings = bench_settings(services)  # that database, the bucket "roto-bench"
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from roto import db
from roto.devstack.repository import create_database
from roto.devstack.services import LOCAL_AWS_ENV, MotoServer, Postgres, RedisServer
from roto.settings import Settings, load_settings

#: The database a benchmark's processes use.
DATABASE = "roto"


@dataclass(frozen=True)
class Services:
    root: Path
    moto: MotoServer
    pg: Postgres | None = None
    redis: RedisServer | None = None


@contextmanager
def local_services(name: str, *, postgres: bool = False, redis: bool = False) -> Iterator[Services]:
    """Services for the benchmark ``name`` (it names the folder: ``roto-bench-<name>-...``)."""
    os.environ.update(LOCAL_AWS_ENV)
    root = Path(tempfile.mkdtemp(prefix=f"roto-bench-{name}-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        pg = redis_server = None
        if postgres:
            pg = Postgres.start(root / "pg")
            stack.callback(pg.stop)
            asyncio.run(_migrated_database(pg))
        if redis:
            redis_server = RedisServer.start(root / "redis", persist=False)
            stack.callback(redis_server.stop)
        moto = MotoServer.start(log_path=root / "moto.log")
        stack.callback(moto.stop)
        yield Services(root, moto, pg, redis_server)


async def _migrated_database(pg: Postgres) -> None:
    admin = await asyncpg.connect(pg.dsn())
    try:
        await create_database(admin, DATABASE)
    finally:
        await admin.close()
    await db.migrate_dsn(pg.dsn(DATABASE))


def bench_settings(services: Services, **overrides: Any) -> Settings:
    """The settings of a benchmark's processes on ``services``: the database ``DATABASE``, the
    bucket ``roto-bench``, logs quiet; ``overrides`` on top."""
    values: dict[str, Any] = {
        "env": "bench",
        "aws_endpoint_url": services.moto.endpoint,
        "s3_bucket": "roto-bench",
        "jwt_secret": "bench-" + "x" * 32,
        "log_json": False,
        "log_level": "WARNING",
    }
    if services.pg is not None:
        values["database_url"] = services.pg.dsn(DATABASE)
    if services.redis is not None:
        values["redis_url"] = services.redis.url
    return load_settings({}, **{**values, **overrides})
