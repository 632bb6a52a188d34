"""How unexpected errors answer: a dependency that is away (PostgreSQL restarting, a connection
cut, Redis or a socket refused) is a 503 with Retry-After to retry; anything else a 500."""

from __future__ import annotations

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError

from roto.errors import PROBLEM_JSON, exception_handlers

RAISED: list[BaseException] = []


@get("/boom", sync_to_thread=False)
def boom() -> None:
    raise RAISED[0]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), 503),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), 503),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), 503),
        (asyncpg.InterfaceError("pool is closing"), 503),
        (asyncpg.InternalClientError("cannot switch to state 12; another operation"), 503),
        (ConnectionRefusedError(111, "Connection refused"), 503),
        (RedisConnectionError("Error 111 connecting"), 503),
        (ValueError("a bug"), 500),
    ],
)
def test_a_dependency_away_is_503_with_retry_after_and_a_bug_is_500(
    error: BaseException, status: int
) -> None:
    RAISED[:] = [error]
    app = Litestar([boom], exception_handlers=exception_handlers)
    with TestClient(app) as client:
        answer = client.get("/boom")
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    assert ("retry-after" in answer.headers) == (status == 503)
