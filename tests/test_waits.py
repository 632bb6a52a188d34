"""``wait_for_event``: the wait of every loop that runs until its process stops."""

from __future__ import annotations

import asyncio

from roto.waits import wait_for_event


async def test_returns_true_as_soon_as_the_event_is_set() -> None:
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_for_event(event, 60.0))
    await asyncio.sleep(0)
    assert not waiting.done()
    event.set()
    # Well before the 60 s: the wait ends on the event itself.
    assert await asyncio.wait_for(waiting, timeout=30.0) is True


async def test_returns_false_when_the_time_runs_out() -> None:
    assert await wait_for_event(asyncio.Event(), 0.01) is False


async def test_an_event_already_set_does_not_wait() -> None:
    event = asyncio.Event()
    event.set()
    assert await asyncio.wait_for(wait_for_event(event, 60.0), timeout=30.0) is True
