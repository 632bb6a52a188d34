"""Keeps a message invisible while its job runs, so a long job is not delivered twice."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class VisibilityHeartbeat:
    """While entered, extends the message's visibility by ``extend_s`` every ``interval_s``."""

    def __init__(
        self, sqs: Any, queue_url: str, receipt: str, *, interval_s: float, extend_s: int
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._receipt = receipt
        self._interval_s = interval_s
        self._extend_s = extend_s
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
            try:
                await self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=self._receipt,
                    VisibilityTimeout=self._extend_s,
                )
            except Exception as exc:  # one missed beat is not fatal; the next may succeed
                log.warning("visibility_extend_failed", error=repr(exc))
