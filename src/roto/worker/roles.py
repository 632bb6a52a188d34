"""Worker roles: the queues a role polls, highest priority first, and the handler of each job
type. A new role (the GPU daemon's) registers here; the runtime does not change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from roto.jobs.repository import JobRow
from roto.worker.context import JobContext

if TYPE_CHECKING:
    from roto.resources import Resources

JobRunner = Callable[[JobContext], Awaitable[dict[str, Any]]]
SuccessHook = Callable[[asyncpg.Connection, JobRow, dict[str, Any]], Awaitable[None]]
FailureHook = Callable[[asyncpg.Connection, JobRow, str, str], Awaitable[None]]
RoleLifespan = Callable[["Resources"], AbstractAsyncContextManager[None]]


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
    handlers: Mapping[str, JobHandler]
    # Entered before the first receive and left after the drain: what the handlers share for the
    # process's lifetime (the GPU daemon's model and batcher).
    lifespan: RoleLifespan | None = None


def media_role() -> Role:
    """The CPU worker: ingest and export from the media queue."""
    # Imported here so that a process of another role does not load the media code.
    from roto.exports.job import EXPORT_HANDLER
    from roto.media.ingest import INGEST_HANDLER
    from roto.media.malloc import media_lifespan

    handlers = {"ingest": INGEST_HANDLER, "export": EXPORT_HANDLER}
    return Role(name="media", queues=("media",), handlers=handlers, lifespan=media_lifespan)


def gpu_role() -> Role:
    """The GPU daemon: segment jobs from the interactive queue first, then the batch queue."""
    from gpu.daemon import gpu_role as build_gpu_role

    return build_gpu_role()


_ROLE_FACTORIES: dict[str, Callable[[], Role]] = {"media": media_role, "gpu": gpu_role}


def register_role(name: str, factory: Callable[[], Role]) -> None:
    """Make ``--role name`` build its role with ``factory``."""
    _ROLE_FACTORIES[name] = factory


def role_names() -> list[str]:
    return sorted(_ROLE_FACTORIES)


def build_role(name: str) -> Role:
    """The role called ``name``; ValueError names the known roles otherwise."""
    factory = _ROLE_FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown worker role {name!r}; known: {', '.join(role_names())}")
    return factory()
