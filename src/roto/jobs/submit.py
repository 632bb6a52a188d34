"""Queueing a job once: the use case behind every POST that creates a job.

A repeated ``Idempotency-Key`` answers the first job before anything else happens (its checks may
no longer pass: the first call changed the state they look at). Otherwise the caller's checks
run, then the caller's ``prepare`` and the job with its outbox message commit in one transaction
that also records the key; once it has committed, the job is offered on its fast lane (if its
queue has one) and the outbox relay is woken.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import asyncpg
import msgspec

from roto import idempotency
from roto.jobs import lane
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import JobKind
from roto.jobs.outbox import create_job
from roto.resources import Resources

P = TypeVar("P", bound=msgspec.Struct)


@dataclass(frozen=True)
class JobOrigin:
    """Who asks for a job, about which video, under which Idempotency-Key (and the hash of the
    body it came with) and request id."""

    user_id: uuid.UUID
    video_id: uuid.UUID
    key: str | None = None
    request_id: str | None = None
    body_hash: bytes | None = None


class JobSpec(NamedTuple, Generic[P]):
    """What ``prepare`` decided to queue: the payload and the progress total to start with."""

    payload: P
    progress_total: int = 0


Prepare = Callable[[asyncpg.Connection], Awaitable[JobSpec[P]]]
Check = Callable[[], Awaitable[None]]
OnQueued = Callable[[asyncpg.Connection, jobs_repo.JobRow], Awaitable[None]]


async def submit_job(
    resources: Resources,
    origin: JobOrigin,
    kind: JobKind[P, Any],
    prepare: Prepare[P],
    *,
    check: Check | None = None,
    on_queued: OnQueued | None = None,
    status_code: int = 202,
) -> idempotency.Outcome:
    """Queue a ``kind`` job for ``origin``, or answer the job its Idempotency-Key made before.

    ``check`` runs before any side effect (not on a replay); ``prepare`` runs in the job's
    transaction (lock rows, check what must hold at commit, write the rows that go with the job)
    and says what to queue; ``on_queued`` sees the job before the commit (e.g. to subscribe to its
    events so that none is missed).
    """
    scope = idempotency.Scope(kind.name, origin.video_id, origin.body_hash)
    replay = await idempotency.find_replay(resources, origin.user_id, origin.key, scope)
    if replay is not None:
        return replay
    if check is not None:
        await check()

    async def create(conn: asyncpg.Connection) -> jobs_repo.JobRow:
        spec = await prepare(conn)
        job = await create_job(
            conn,
            user_id=origin.user_id,
            video_id=origin.video_id,
            job_type=kind.name,
            payload=kind.encode_payload(spec.payload),
            progress_total=spec.progress_total,
            request_id=origin.request_id,
            hold_s=lane.hold_s(resources.settings, kind.name),
        )
        if on_queued is not None:
            await on_queued(conn, job)
        return job

    return await idempotency.create_job_once(
        resources,
        user_id=origin.user_id,
        key=origin.key,
        scope=scope,
        status_code=status_code,
        create=create,
    )
