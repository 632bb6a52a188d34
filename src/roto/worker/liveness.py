"""The worker's liveness file: what the platform reads to know the worker is alive and busy.

The contract is infra/README.md's "Worker heartbeat" (read by infra/docker/worker_guard.py and
the GPU boot script): ``<data dir>/heartbeat`` is rewritten at least every 10 s once the worker
can take jobs, atomically, as ``{"state", "in_flight", "pid", "time"}``. Its modification time is
the liveness. The beat runs on the worker's event loop, so a hung loop stops it; a role may also
withhold it (the GPU daemon does while one model call has run implausibly long). Not to be
confused with ``roto.worker.heartbeat``, which keeps one job's SQS message hidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from roto.waits import wait_for_event

log = structlog.get_logger(__name__)


def write_beat(path: Path, *, state: str, in_flight: int) -> None:
    """Replace ``path`` with a fresh beat: a temporary file in the same directory, then a rename,
    so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"state": state, "in_flight": in_flight, "pid": os.getpid(), "time": time.time()}
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".heartbeat-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(body, file)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class Liveness:
    """Beats every ``interval_s`` until ``stopped`` is set: ``state`` and ``in_flight`` are read
    at each beat; ``stalled`` (None: never) names why the worker must not beat now."""

    def __init__(
        self,
        path: Path,
        interval_s: float,
        *,
        state: Callable[[], str],
        in_flight: Callable[[], int],
        stalled: Callable[[], str | None] | None = None,
    ) -> None:
        self.path = path
        self._interval_s = interval_s
        self._state = state
        self._in_flight = in_flight
        self._stalled = stalled
        self._withheld: str | None = None

    def beat(self) -> bool:
        """Write one beat, unless the worker is stalled; whether it was written."""
        reason = self._stalled() if self._stalled is not None else None
        if reason is not None:
            if reason != self._withheld:
                log.error("liveness_withheld", reason=reason, path=str(self.path))
            self._withheld = reason
            return False
        if self._withheld is not None:
            log.info("liveness_resumed", path=str(self.path))
            self._withheld = None
        try:
            write_beat(self.path, state=self._state(), in_flight=self._in_flight())
        except OSError as exc:  # a full or read-only disk: the guard sees a stale beat and acts
            log.warning("liveness_write_failed", path=str(self.path), error=repr(exc))
            return False
        return True

    async def run(self, stopped: asyncio.Event) -> None:
        self.beat()
        while not await wait_for_event(stopped, self._interval_s):
            self.beat()
