"""``Subscribers`` bookkeeping: which pub/sub connections are kept for the next watch and which
are closed (a stand-in PubSub records what was done to it; real Redis is in test_watch.py)."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from roto import subscribers
from roto.subscribers import Subscribers


class StandIn:
    def __init__(self, unsubscribe: str = "ok") -> None:
        self.how = unsubscribe
        self.closed = False

    async def unsubscribe(self) -> None:
        if self.how == "fails":
            raise RedisConnectionError("gone")
        if self.how == "hangs":
            await asyncio.sleep(3600)

    async def aclose(self) -> None:
        self.closed = True


async def test_a_clean_watch_is_kept_up_to_the_limit_and_the_rest_closed() -> None:
    kept = Subscribers(keep=2)
    given = [StandIn() for _ in range(3)]
    for pubsub in given:
        await kept.give_back(pubsub, reusable=True)
    assert kept.idle == 2
    assert [p.closed for p in given] == [False, False, True]
    assert kept.take(redis=None) is given[1]  # type: ignore[arg-type]  # newest first


async def test_a_cut_off_failing_or_hanging_unsubscribe_closes_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(subscribers, "CLOSE_TIMEOUT_S", 0.2)
    kept = Subscribers()
    cut, failing, hanging = StandIn(), StandIn("fails"), StandIn("hangs")
    await kept.give_back(cut, reusable=False)
    await kept.give_back(failing, reusable=True)
    await kept.give_back(hanging, reusable=True)
    assert kept.idle == 0
    assert cut.closed and failing.closed and hanging.closed


async def test_closing_all_closes_the_kept_ones() -> None:
    kept = Subscribers()
    given = [StandIn(), StandIn()]
    for pubsub in given:
        await kept.give_back(pubsub, reusable=True)
    await kept.close_all()
    assert kept.idle == 0 and all(p.closed for p in given)
