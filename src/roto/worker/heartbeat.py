"""Keeps a running job's claim alive: its message invisible (so it is not delivered twice) and its
lease in the database (so no other worker claims it), for as long as the job may run. A job taken
from the fast lane has no message in hand: only its lease is kept."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import structlog

log = structlog.get_logger(__name__)

#: Extends the job's lease; False once the claim no longer holds it (the job was canceled,
#: deleted or claimed again), which ends the heartbeat.
ExtendLease = Callable[[], Awaitable[bool]]


class VisibilityHeartbeat:
    """While entered, every ``interval_s``: extends the job's lease (``lease``, when given) and
    the message's visibility by ``extend_s`` (when there is a message: ``receipt``). It stops at
    ``until`` (a ``time.monotonic()`` instant, the job's deadline): a job hung past its maximum
    run time is no longer kept, so its message comes back and another worker may claim it once
    the lease has run out."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        receipt: str | None,
        *,
        interval_s: float,
        extend_s: int,
        lease: ExtendLease | None = None,
        until: float | None = None,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._receipt = receipt
        self._interval_s = interval_s
        self._extend_s = extend_s
        self._lease = lease
        self._until = until
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> VisibilityHeartbeat:
        self._task = asyncio.create_task(self._beat(), name="visibility-heartbeat")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            if self._until is not None and time.monotonic() >= self._until:
                log.warning("heartbeat_stopped_at_deadline")
                return
            if not await self._extend_lease():
                log.info("heartbeat_stopped_lease_lost")
                return
            if self._receipt is None:
                continue
            try:
                await self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=self._receipt,
                    VisibilityTimeout=self._extend_s,
                )
            except Exception as exc:  # one missed beat is not fatal; the next may succeed
                log.warning("visibility_extend_failed", error=repr(exc))

    async def _extend_lease(self) -> bool:
        """False only when the lease is known lost; a database error keeps beating (the message
        stays hidden, and the next beat extends the lease again)."""
        if self._lease is None:
            return True
        try:
            return await self._lease()
        except Exception as exc:
            log.warning("lease_extend_failed", error=repr(exc))
            return True
