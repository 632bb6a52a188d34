"""``wait_for_event``: the wait of every loop that runs until its process stops."""

from __future__ import annotations

import asyncio

import pytest

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


async def test_a_cancel_that_comes_as_the_event_is_set_is_not_lost() -> None:
    """The event is set and the waiting task cancelled in one step of the loop: the wait must
    end in CancelledError. (``asyncio.wait_for`` on 3.11 returned True here, and the outbox
    relay, a loop around this wait, ran on after the API's shutdown cancelled it.)"""
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_for_event(event, 60.0))
    await asyncio.sleep(0)
    event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, timeout=30.0)


async def test_a_loop_around_the_wait_stops_when_cancelled_as_it_is_woken() -> None:
    event = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            await wait_for_event(event, 60.0)
            event.clear()

    running = asyncio.create_task(loop())
    await asyncio.sleep(0)
    event.set()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, timeout=30.0)
    assert rounds == 1
