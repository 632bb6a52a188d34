"""``Idempotency-Key`` for POSTs that create a job: a repeated key answers the first job.

A service calls ``find_replay`` before any side effect (so a replay skips state checks that the
first call changed), then ``create_job_once`` to write the job and the key in one transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import asyncpg
import msgspec
import structlog
from litestar.params import HeaderParameter

from roto.errors import BadRequest, DomainError, Unprocessable
from roto.jobs import lane
from roto.jobs import repository as jobs_repo
from roto.resources import Resources

log = structlog.get_logger(__name__)

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

#: The handler parameter for the header: ``idempotency_key: IdempotencyKeyHeader = None``.
IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        description="Repeat a request safely: the same key (1-255 visible ASCII characters) "
        "within 24 h answers the same job with the same status code. The same key with a "
        "different body answers 422.",
    ),
]


class Scope(msgspec.Struct, frozen=True):
    """What a key was used for; a key reused for another kind of request, or with another
    body (``request_hash``), is refused."""

    job_type: str
    video_id: uuid.UUID | None
    request_hash: bytes | None = None


def request_hash(body: bytes) -> bytes:
    """What a key remembers of the request body: its SHA-256."""
    return hashlib.sha256(body).digest()


class Outcome(msgspec.Struct, frozen=True):
    job: jobs_repo.JobRow
    status_code: int
    is_replay: bool


def check_key(key: str | None) -> str | None:
    """The header's value, or a 400 naming the header when it cannot be a key."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " < ch <= "~" for ch in key):
        raise BadRequest(
            f"{HEADER}: must be 1-{MAX_KEY_LENGTH} visible ASCII characters",
            errors=[{"key": HEADER, "message": "invalid key", "source": "header"}],
        )
    return key


CreateJob = Callable[[asyncpg.Connection], Awaitable[jobs_repo.JobRow]]


async def find_replay(
    resources: Resources, user_id: uuid.UUID, key: str | None, scope: Scope
) -> Outcome | None:
    """The answer given earlier for ``key`` (within the TTL), or None to go ahead."""
    if check_key(key) is None:
        return None
    assert key is not None
    async with resources.pool.acquire() as conn:
        found = await jobs_repo.find_idempotent_job(
            conn, user_id, key, resources.settings.idempotency_ttl_s
        )
        if found is None:
            return None
        job = await jobs_repo.get_job_for_user(conn, found.job_id, user_id)
    if job is None:
        return None
    if job.type != scope.job_type or job.video_id != scope.video_id:
        raise Unprocessable(
            f"{HEADER}: this key was already used for a different request",
            errors=[{"key": HEADER, "message": "reused for a different request"}],
        )
    if None not in (found.request_hash, scope.request_hash) and (
        found.request_hash != scope.request_hash
    ):
        raise Unprocessable(
            f"{HEADER}: this key was already used with a different request body",
            errors=[{"key": HEADER, "message": "reused with a different body"}],
        )
    return Outcome(job, found.status_code, is_replay=True)


async def create_job_once(
    resources: Resources,
    *,
    user_id: uuid.UUID,
    key: str | None,
    scope: Scope,
    status_code: int,
    create: CreateJob,
) -> Outcome:
    """Run ``create`` in a transaction that also records ``key``; then hand the job on
    (``lane.dispatch``: its fast lane, the outbox relay).

    When a concurrent request with the same key commits first, ours fails (the key's primary key,
    or a state check in ``create`` raising a domain error) and rolls back: answer its job instead.
    """
    replay = await find_replay(resources, user_id, key, scope)
    if replay is not None:
        return replay
    try:
        async with resources.pool.acquire() as conn, conn.transaction():
            job = await create(conn)
            if key is not None:
                await jobs_repo.remember_idempotent_job(
                    conn,
                    user_id,
                    key,
                    job.id,
                    status_code,
                    resources.settings.idempotency_ttl_s,
                    scope.request_hash,
                )
    except (asyncpg.UniqueViolationError, DomainError):
        replay = await find_replay(resources, user_id, key, scope)
        if replay is not None:
            return replay
        raise
    await lane.dispatch(resources, job)
    log.info("job_queued", job_id=str(job.id), job_type=job.type)
    return Outcome(job, status_code, is_replay=False)
