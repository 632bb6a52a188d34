"""What the dynamic batcher does when things go wrong, over a fake model function
(``support``): deadlines, the queue bound, an unknown kind, a failing item or batch, a
cancelled request, shutdown."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from roto_gpu.batcher import (
    BatcherClosed,
    DeadlineExceeded,
    QueueFull,
    RequestTiming,
    ResultCountMismatch,
)
from tests.gpu.batcher.support import (
    GATE_TIMEOUT_S,
    FakeModel,
    hold_model_thread,
    queue_behind,
    until_pending,
)


async def test_unknown_kind_is_refused(fake: FakeModel, make_batcher) -> None:
    batcher = make_batcher({"run": fake})
    with pytest.raises(ValueError, match="unknown kind 'walk'"):
        await batcher.submit("walk", 1)


async def test_request_past_its_deadline_fails_without_running(
    fake: FakeModel, make_batcher
) -> None:
    batcher = make_batcher({"run": fake}, max_wait_ms=0)
    holder = await hold_model_thread(batcher, fake)
    with pytest.raises(DeadlineExceeded):
        await batcher.submit("run", 5, timeout=0.05)
    with pytest.raises(DeadlineExceeded):
        await batcher.submit("run", 6, deadline=time.monotonic() - 1)
    fake.gate.set()
    await holder
    assert await batcher.submit("run", 8) == 80
    assert not fake.ran(5)
    assert not fake.ran(6)
    assert (
        batcher.metrics.registry.get_sample_value(
            "roto_batch_requests_total", {"kind": "run", "outcome": "deadline"}
        )
        == 2
    )


async def test_started_request_is_answered_even_after_its_deadline(
    fake: FakeModel, make_batcher
) -> None:
    batcher = make_batcher({"run": fake}, max_wait_ms=0)
    task = asyncio.create_task(batcher.submit("run", "hold", timeout=0.05))
    assert await asyncio.to_thread(fake.holding.wait, GATE_TIMEOUT_S)
    await asyncio.sleep(0.1)
    fake.gate.set()
    assert await task == "hold"


async def test_full_queue_refuses_new_work(fake: FakeModel, make_batcher) -> None:
    batcher = make_batcher({"run": fake}, max_wait_ms=0, queue_limit=2)
    holder = await hold_model_thread(batcher, fake)
    waiting = [asyncio.create_task(batcher.submit("run", i)) for i in (1, 2)]
    await until_pending(batcher, 2)
    with pytest.raises(QueueFull, match="2 requests are waiting"):
        await batcher.submit("run", 3)
    fake.gate.set()
    assert await asyncio.gather(holder, *waiting) == ["hold", 10, 20]
    assert not fake.ran(3)


async def test_bad_item_fails_alone_and_its_batch_still_answers(make_batcher) -> None:
    fake = FakeModel(fail_on=(2,))
    batcher = make_batcher({"run": fake}, max_batch_size=3, max_wait_ms=30_000)
    holder, tasks = await queue_behind(batcher, fake, [batcher.submit("run", i) for i in (1, 2, 3)])
    fake.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    await holder
    assert results[0] == 10
    assert isinstance(results[1], ValueError)
    assert results[2] == 30
    assert fake.batches == [["hold"], [1, 2, 3], [1], [2], [3]]


async def test_a_request_retried_alone_gets_the_timing_of_its_own_pass(make_batcher) -> None:
    fake = FakeModel(fail_on=(2,))
    batcher = make_batcher({"run": fake}, max_batch_size=3, max_wait_ms=30_000)
    timings = [RequestTiming() for _ in range(2)]
    holder, tasks = await queue_behind(
        batcher, fake, [batcher.submit("run", i, timing=t) for i, t in enumerate(timings, start=1)]
    )
    fake.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    await holder
    assert results[0] == 10 and isinstance(results[1], ValueError)
    assert fake.batches == [["hold"], [1, 2], [1], [2]]
    # The one that answered ran alone: a batch of one, its own pass timed.
    assert timings[0].batch_size == 1
    assert timings[0].model_s > 0


async def test_wrong_result_count_fails_every_request_of_the_batch(make_batcher) -> None:
    fake = FakeModel()
    calls: list[list[Any]] = []

    def short(items: list[Any]) -> list[Any]:
        calls.append(items)
        return fake(items) if items == ["hold"] else items[:-1]

    batcher = make_batcher({"run": short}, max_batch_size=3, max_wait_ms=30_000)
    holder, tasks = await queue_behind(batcher, fake, [batcher.submit("run", i) for i in (1, 2, 3)])
    fake.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    await holder
    assert all(isinstance(r, ResultCountMismatch) for r in results)
    assert "returned 2 results for 3 items" in str(results[0])
    assert calls == [["hold"], [1, 2, 3]]


async def test_cancelled_request_is_not_run(fake: FakeModel, make_batcher) -> None:
    batcher = make_batcher({"run": fake}, max_wait_ms=0)
    holder = await hold_model_thread(batcher, fake)
    task = asyncio.create_task(batcher.submit("run", 9))
    await until_pending(batcher, 1)
    task.cancel()
    await until_pending(batcher, 0)
    fake.gate.set()
    await holder
    assert await batcher.submit("run", 4) == 40
    assert not fake.ran(9)


async def test_close_fails_pending_and_finishes_the_running_batch(
    fake: FakeModel, make_batcher
) -> None:
    batcher = make_batcher({"run": fake}, max_wait_ms=0)
    holder = await hold_model_thread(batcher, fake)
    waiting = [asyncio.create_task(batcher.submit("run", i)) for i in (1, 2)]
    await until_pending(batcher, 2)
    closing = asyncio.create_task(batcher.close())
    for task in waiting:
        with pytest.raises(BatcherClosed):
            await task
    fake.gate.set()
    await closing
    assert await holder == "hold"
    assert not fake.ran(1)
    with pytest.raises(BatcherClosed):
        await batcher.submit("run", 3)


async def test_stream_of_unknown_kind_is_refused(fake: FakeModel, make_batcher) -> None:
    batcher = make_batcher({"run": fake})
    with pytest.raises(ValueError, match="unknown kind 'nope'"), batcher.stream("nope"):
        pass


async def test_call_that_raises_raises_in_the_caller(fake: FakeModel, make_batcher) -> None:
    batcher = make_batcher({"run": fake})

    def broken() -> None:
        raise RuntimeError("no checkpoint")

    with pytest.raises(RuntimeError, match="no checkpoint"):
        await batcher.call(broken)
    assert await batcher.submit("run", 2) == 20  # the model thread goes on


async def test_call_after_close_is_refused(fake: FakeModel, make_batcher) -> None:
    batcher = make_batcher({"run": fake})
    await batcher.close()
    with pytest.raises(BatcherClosed):
        await batcher.call(lambda: None)
