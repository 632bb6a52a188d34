"""The export runs its blocking work (decoding, encoding, zipping) on a thread of its own; this
lets that thread call the job's async clients (S3, PostgreSQL, progress) on the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class BridgeClosed(Exception):
    """The job stopped waiting for the export thread (canceled or failed on the loop side)."""


class LoopBridge:
    """Runs coroutines on ``loop`` for a worker thread; ``close`` makes later calls raise."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._closed = threading.Event()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the loop; the caller waits on the future when it needs the answer."""
        if self._closed.is_set():
            coro.close()
            raise BridgeClosed("the export was stopped")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its answer (its exception is raised here)."""
        future = self.submit(coro)
        while True:
            try:
                return future.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                # A closed bridge means nobody will use the answer; don't keep the thread.
                if self._closed.is_set():
                    future.cancel()
                    raise BridgeClosed("the export was stopped") from None

    def close(self) -> None:
        self._closed.set()
