"""The worker runtime's public contract: what a role hands the runtime (its queues, a handler per
job type, a lifespan) and what a handler sees while it runs (``JobContext`` and the errors that end
a job on purpose). Roles import this module and nothing else of ``roto.worker``; they register
themselves under the ``roto.worker.roles`` entry point (see ``roto.worker.registry``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec

from roto.jobs.repository import JobRow
from roto.worker.context import JobCanceled, JobContext, JobFailed

if TYPE_CHECKING:
    from roto.resources import Resources

__all__ = [
    "FailureHook",
    "JobCanceled",
    "JobContext",
    "JobFailed",
    "JobHandler",
    "JobRunner",
    "Role",
    "RoleLifespan",
    "RoleServe",
    "SuccessHook",
    "static_role",
]

#: Runs the job and returns its result (a msgspec Struct of its kind's ``result`` type).
JobRunner = Callable[[JobContext], Awaitable[msgspec.Struct | dict[str, Any]]]
SuccessHook = Callable[[asyncpg.Connection, JobRow, dict[str, Any]], Awaitable[None]]
FailureHook = Callable[[asyncpg.Connection, JobRow, str, str], Awaitable[None]]
RoleLifespan = Callable[["Resources"], AbstractAsyncContextManager[None]]
#: Entered before the first receive and left after the drain; yields the role's handlers, built
#: with what they share for the process's lifetime (the GPU daemon's model and batcher).
RoleServe = Callable[["Resources"], AbstractAsyncContextManager[Mapping[str, "JobHandler"]]]


@dataclass(frozen=True)
class JobHandler:
    """``run`` does the work and returns the job's result. The hooks store the handler's own rows
    in the transaction that finishes the job, so the job and its results commit together."""

    run: JobRunner
    on_success: SuccessHook | None = None
    # Also called with code "canceled" when the user cancels the job.
    on_failure: FailureHook | None = None


@dataclass(frozen=True)
class Role:
    """What one kind of worker process does."""

    name: str
    # Keys of ``Resources.queue_urls``; a free slot takes work from the first non-empty one.
    queues: tuple[str, ...]
    # The job types (``JobKind.name``) that ``serve``'s handlers run.
    job_types: tuple[str, ...]
    serve: RoleServe
    # Why the role's worker must not report itself alive now (None: nothing wrong), asked before
    # each liveness beat; the GPU daemon's says so when a model call hangs.
    stalled: Callable[[], str | None] | None = None


def static_role(
    name: str,
    queues: tuple[str, ...],
    handlers: Mapping[str, JobHandler],
    lifespan: RoleLifespan | None = None,
) -> Role:
    """A role whose handlers need nothing built at start (besides an optional ``lifespan``)."""

    @contextlib.asynccontextmanager
    async def serve(resources: Resources) -> AsyncIterator[Mapping[str, JobHandler]]:
        async with lifespan(resources) if lifespan else contextlib.nullcontext():
            yield handlers

    return Role(name=name, queues=queues, job_types=tuple(handlers), serve=serve)
