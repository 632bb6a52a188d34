"""What a job handler sees: its job, the process's clients, progress reporting and the
errors that end a job on purpose."""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypeVar

import msgspec
import structlog

from roto.jobs import events
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import JobKind, JobMessage
from roto.resources import Resources
from roto.settings import Settings

log = structlog.get_logger(__name__)
P = TypeVar("P", bound=msgspec.Struct)

# Live progress is cheap (Redis pub/sub) but a client needs only a few updates a second.
PUBLISH_INTERVAL_S = 0.2
# The row is the durable copy; once a second keeps PostgreSQL writes small on long jobs.
STORE_INTERVAL_S = 1.0


class JobFailed(Exception):
    """An expected, deterministic failure: the job is failed with ``code`` and never retried."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class JobCanceled(Exception):
    """The user canceled the job while it ran, or deleted its video (the job's row went with
    it); the handler stops and the message is deleted."""


class JobContext:
    """One run of one job: the row as claimed, the message, and progress reporting."""

    def __init__(
        self, resources: Resources, job: jobs_repo.JobRow, message: JobMessage, receives: int
    ) -> None:
        self.resources = resources
        self.job = job
        self.message = message
        self.receives = receives
        #: Set once the run is over: its outcome stored and announced, or none to store. Work
        #: that must not hold up the answer (writes of derived data) waits for it.
        self.finished = asyncio.Event()
        self._published_at = float("-inf")
        self._stored_at = float("-inf")

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    def payload(self, kind: JobKind[P, Any]) -> P:
        """The job's payload as ``kind`` defines it; a stored payload that does not fit fails
        the job (``invalid_job``) instead of being retried."""
        try:
            return kind.decode_payload(self.job.payload)
        except msgspec.ValidationError as exc:
            raise JobFailed(
                "invalid_job", f"a {kind.name} job's payload is invalid: {exc}"
            ) from exc

    async def report_progress(self, done: int, total: int, *, force: bool = False) -> None:
        """Publish progress (throttled), store it about once a second and check for a cancel.

        Raises ``JobCanceled`` when the job was canceled; ``force`` skips the throttling.
        """
        now = time.monotonic()
        if force or now - self._published_at >= PUBLISH_INTERVAL_S:
            self._published_at = now
            try:
                await events.publish_progress(self.resources.redis, str(self.job.id), done, total)
            except Exception as exc:  # Redis down loses a live event, never the job
                log.warning("progress_publish_failed", error=repr(exc))
        if force or now - self._stored_at >= STORE_INTERVAL_S:
            self._stored_at = now
            async with self.resources.pool.acquire() as conn:
                await jobs_repo.update_progress(conn, self.job.id, done, total)
                status = await jobs_repo.get_status(conn, self.job.id)
            if status in (None, "canceled"):
                raise JobCanceled(str(self.job.id))

    async def check_canceled(self) -> None:
        """Raise ``JobCanceled`` if the user canceled the job (or deleted its video)."""
        async with self.resources.pool.acquire() as conn:
            status = await jobs_repo.get_status(conn, self.job.id)
        if status in (None, "canceled"):
            raise JobCanceled(str(self.job.id))
