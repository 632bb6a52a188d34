"""Keyframe states this process made lately, and their writes to S3 behind the click's answer.

A click's state (the logits and object pointer its next refinement starts from) is derived data:
its prompts are in PostgreSQL, and a state that is not in S3 is decoded again from them (the
segment job and the propagation both do so). So the write need not hold up the answer: the job
records the state's key, finishes and announces its mask, and only then does the write start
(its upload would otherwise compete with the answer's own on the event loop); the next click on
the keyframe, usually in this same process a few seconds later, takes the state from memory
instead of reading it back. A write that fails costs a later recomputation, never a wrong mask.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable

import structlog

from roto_gpu.model.prompts import KeyframeState

log = structlog.get_logger(__name__)

#: States kept in memory: one is about 0.3 MB at SAM2's 1024 px (a 256x256 float32 logit map).
DEFAULT_ENTRIES = 256
#: A write held for its job's answer starts after this at the latest.
WRITE_HOLD_MAX_S = 30.0


class RecentStates:
    """The last ``entries`` states kept by key, and the S3 writes still under way."""

    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        if entries < 1:
            raise ValueError("entries must be >= 1")
        self._entries = entries
        self._states: collections.OrderedDict[str, KeyframeState] = collections.OrderedDict()
        self._writes: set[asyncio.Task[None]] = set()
        self._flushing = asyncio.Event()  # set while ``flush`` waits: held writes start

    def get(self, key: str) -> KeyframeState | None:
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
        return state

    def keep(self, key: str, state: KeyframeState) -> KeyframeState:
        """Remember ``state`` in the form a read from S3 gives (``KeyframeState.as_stored``):
        the next decode starts from the same numbers either way. Returns what is kept."""
        kept = self._states[key] = state.as_stored()
        self._states.move_to_end(key)
        while len(self._states) > self._entries:
            self._states.popitem(last=False)
        return kept

    def write_behind(
        self, key: str, write: Awaitable[None], *, after: asyncio.Event | None = None
    ) -> None:
        """Run ``write`` (storing the state at ``key``) in the background, once ``after`` is set
        (at the latest after ``WRITE_HOLD_MAX_S``)."""
        task = asyncio.ensure_future(self._write(key, write, after))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    @property
    def pending(self) -> int:
        return len(self._writes)

    async def flush(self, timeout_s: float) -> int:
        """Start the held writes and wait up to ``timeout_s`` for all those under way; how many
        did not finish."""
        if not self._writes:
            return 0
        self._flushing.set()
        try:
            _, unfinished = await asyncio.wait(set(self._writes), timeout=timeout_s)
        finally:
            self._flushing.clear()
        if unfinished:
            log.warning("keyframe_state_writes_unfinished", count=len(unfinished))
        return len(unfinished)

    async def _write(self, key: str, write: Awaitable[None], after: asyncio.Event | None) -> None:
        if after is not None:
            await self._hold(after)
        try:
            await write
        except Exception as exc:  # made again from the prompts by whoever needs it next
            log.warning("keyframe_state_not_stored", key=key, error=repr(exc))

    async def _hold(self, after: asyncio.Event) -> None:
        """Until ``after`` is set or a flush starts, ``WRITE_HOLD_MAX_S`` at the most."""
        waits = {asyncio.ensure_future(after.wait()), asyncio.ensure_future(self._flushing.wait())}
        try:
            await asyncio.wait(waits, timeout=WRITE_HOLD_MAX_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
