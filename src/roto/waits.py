"""Waiting for an event, for a while at most: the loops that run until their process stops, or
that wake early when there is work.

Bounded waits here and elsewhere use ``asyncio.timeout``, never ``asyncio.wait_for``: on Python
3.11 ``wait_for`` returns normally when its task is cancelled just as the awaited thing finishes
(CPython gh-86296), and a loop that lost its cancel that way runs on, so whoever cancelled it and
waits for it waits forever (an API's shutdown hung on its outbox relay so, once in CI).
"""

from __future__ import annotations

import asyncio
import contextlib


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set, ``seconds`` at most; True when it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
