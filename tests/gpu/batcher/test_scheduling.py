"""The dynamic batcher's scheduling over a fake model function (``support``): batching,
priorities, streams that wait for their siblings, calls on the model thread, metrics, and a model
thread that never idles."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from roto_gpu.batcher import (
    Priority,
    RequestTiming,
)
from tests.gpu.batcher.support import (
    GATE_TIMEOUT_S,
    FakeModel,
    hold_model_thread,
    queue_behind,
    until_pending,
)


async def test_requests_that_queue_while_a_batch_runs_form_full_batches(
    fake: FakeModel, make_batcher
) -> None:
    batcher = make_batcher({"run": fake}, max_batch_size=4, max_wait_ms=30_000)
    holder, tasks = await queue_behind(batcher, fake, [batcher.submit("run", i) for i in range(8)])
    fake.gate.set()
    assert await asyncio.wait_for(asyncio.gather(*tasks), 10) == [i * 10 for i in range(8)]
    await holder
    assert fake.batches == [["hold"], [0, 1, 2, 3], [4, 5, 6, 7]]


async def test_a_request_asked_for_its_timing_gets_its_queue_wait_and_its_batch_pass(
    fake: FakeModel, make_batcher
) -> None:
    batcher = make_batcher({"run": fake}, max_batch_size=4, max_wait_ms=30_000)
    timings = [RequestTiming() for _ in range(3)]
    holder, tasks = await queue_behind(
        batcher, fake, [batcher.submit("run", i, timing=t) for i, t in enumerate(timings)]
    )
    held_for = 0.05
    await asyncio.sleep(held_for)  # the three wait behind the held batch at least this long
    fake.gate.set()
    await asyncio.wait_for(asyncio.gather(holder, *tasks), 10)
    assert [t.batch_size for t in timings] == [3, 3, 3]
    assert all(t.queued_s >= held_for for t in timings)
    assert all(0 < t.model_s < t.queued_s for t in timings)  # one quick pass for the batch


async def test_lone_request_runs_at_once_without_waiting_for_company(
    fake: FakeModel, make_batcher
) -> None:
    # Half a minute of max_wait: a request that waited for company would time out here.
    batcher = make_batcher({"run": fake}, max_batch_size=8, max_wait_ms=30_000)
    assert await asyncio.wait_for(batcher.submit("run", 7), 10) == 70
    assert fake.batches == [[7]]


async def test_an_uncached_click_encodes_then_decodes_without_waiting_twice(make_batcher) -> None:
    encode, decode = FakeModel(), FakeModel()
    batcher = make_batcher({"encode": encode, "decode": decode}, max_wait_ms=30_000)

    async def click() -> Any:
        embedding = await batcher.submit("encode", 3, priority=Priority.INTERACTIVE)
        return await batcher.submit("decode", embedding, priority=Priority.INTERACTIVE)

    assert await asyncio.wait_for(click(), 10) == 300
    assert encode.batches == [[3]] and decode.batches == [[30]]


async def test_interactive_requests_run_before_queued_batch_work(
    fake: FakeModel, make_batcher
) -> None:
    batcher = make_batcher({"run": fake}, max_batch_size=8, max_wait_ms=0)
    holder = await hold_model_thread(batcher, fake)
    background = [asyncio.create_task(batcher.submit("run", i)) for i in (1, 2)]
    await until_pending(batcher, 2)
    clicks = [
        asyncio.create_task(batcher.submit("run", i, priority=Priority.INTERACTIVE)) for i in (3, 4)
    ]
    await until_pending(batcher, 4)
    fake.gate.set()
    await asyncio.gather(holder, *background, *clicks)
    assert fake.batches == [["hold"], [3, 4], [1, 2]]


async def test_kinds_are_batched_separately(make_batcher) -> None:
    encode, decode = FakeModel(), FakeModel()
    batcher = make_batcher({"encode": encode, "decode": decode}, max_batch_size=8, max_wait_ms=50)
    submits = [batcher.submit(kind, i) for kind, i in [("encode", 1), ("decode", 2)]]
    submits += [batcher.submit(kind, i) for kind, i in [("encode", 3), ("decode", 4)]]
    holder, tasks = await queue_behind(batcher, encode, submits, kind="encode")
    encode.gate.set()
    assert await asyncio.gather(*tasks) == [10, 20, 30, 40]
    await holder
    assert encode.batches == [["hold"], [1, 3]]
    assert decode.batches == [[2, 4]]


async def test_metrics_record_batch_size_wait_and_model_time(fake: FakeModel, make_batcher) -> None:
    batcher = make_batcher({"run": fake}, max_batch_size=3, max_wait_ms=30_000)
    submits = [batcher.submit("run", i, priority=Priority.INTERACTIVE) for i in (1, 2, 3)]
    holder, tasks = await queue_behind(batcher, fake, submits)
    fake.gate.set()
    await asyncio.gather(holder, *tasks)
    value = batcher.metrics.registry.get_sample_value
    assert value("roto_batch_size_count", {"kind": "run"}) == 2  # the holder's and ours
    assert value("roto_batch_size_sum", {"kind": "run"}) == 4
    assert (
        value("roto_batch_queue_wait_seconds_count", {"kind": "run", "priority": "interactive"})
        == 3
    )
    assert value("roto_batch_model_seconds_count", {"kind": "run"}) == 2
    assert value("roto_batch_requests_total", {"kind": "run", "outcome": "ok"}) == 4
    assert value("roto_batch_queue_depth", {}) == 0


async def test_on_start_runs_on_the_model_thread_before_the_first_batch(make_batcher) -> None:
    seen: list[tuple[str, str]] = []

    def warm_up() -> None:
        seen.append(("warm_up", threading.current_thread().name))

    def run(items: list[int]) -> list[int]:
        seen.append(("run", threading.current_thread().name))
        return items

    batcher = make_batcher({"run": run}, max_wait_ms=0, on_start=warm_up, name="sam2")
    assert await batcher.submit("run", 1) == 1
    assert seen == [("warm_up", "sam2-batcher"), ("run", "sam2-batcher")]


async def test_declared_lone_stream_does_not_wait_for_max_wait(
    fake: FakeModel, make_batcher
) -> None:
    batcher = make_batcher({"run": fake}, max_batch_size=8, max_wait_ms=30_000)
    started = time.monotonic()
    with batcher.stream("run"):
        assert await batcher.submit("run", 1) == 10
        assert await batcher.submit("run", 2) == 20
    assert fake.batches == [[1], [2]]
    assert time.monotonic() - started < 10


async def test_batch_waits_for_every_declared_stream_then_runs_them_together(
    fake: FakeModel, make_batcher
) -> None:
    batcher = make_batcher({"run": fake}, max_batch_size=8, max_wait_ms=30_000)
    with batcher.stream("run"), batcher.stream("run"):
        assert batcher.streams == {"run": 2}
        first = asyncio.create_task(batcher.submit("run", 1))
        await until_pending(batcher, 1)
        await asyncio.sleep(0.2)
        assert fake.calls == [] and not first.done()
        assert await batcher.submit("run", 2) == 20
        assert await first == 10
    assert fake.batches == [[1, 2]]
    assert batcher.streams == {}


async def test_leaving_stream_releases_the_batch_waiting_for_it(
    fake: FakeModel, make_batcher
) -> None:
    batcher = make_batcher({"run": fake}, max_batch_size=8, max_wait_ms=30_000)
    with batcher.stream("run"):
        with batcher.stream("run"):
            waiting = asyncio.create_task(batcher.submit("run", 3))
            await until_pending(batcher, 1)
        assert await asyncio.wait_for(waiting, 10) == 30
    assert fake.batches == [[3]]


async def test_a_stream_waiting_for_its_sibling_does_not_hold_up_another_kind(
    make_batcher,
) -> None:
    runs, other = FakeModel(), FakeModel()
    batcher = make_batcher({"run": runs, "other": other}, max_batch_size=8, max_wait_ms=30_000)
    with batcher.stream("run"), batcher.stream("run"):
        waiting = asyncio.create_task(batcher.submit("run", 1))
        await until_pending(batcher, 1)
        assert await asyncio.wait_for(batcher.submit("other", 4), 10) == 40
        assert not waiting.done() and runs.calls == []
        assert await batcher.submit("run", 2) == 20
        assert await waiting == 10
    assert other.batches == [[4]] and runs.batches == [[1, 2]]


async def test_call_runs_on_the_model_thread_and_returns_its_result(
    fake: FakeModel, make_batcher
) -> None:
    batcher = make_batcher({"run": fake})
    model_thread = await batcher.call(threading.current_thread)
    assert model_thread is not threading.current_thread()
    assert await batcher.call(lambda: 6 * 7) == 42
    ran_on: list[threading.Thread] = []

    def record(items: list[Any]) -> list[Any]:
        ran_on.append(threading.current_thread())
        return fake(items)

    other = make_batcher({"run": record})
    other_thread = await other.call(threading.current_thread)
    assert await other.submit("run", 1) == 10
    assert ran_on == [other_thread]


async def test_call_goes_before_batches_already_waiting(fake: FakeModel, make_batcher) -> None:
    batcher = make_batcher({"run": fake}, max_wait_ms=30_000, max_batch_size=8)
    order: list[Any] = []
    holder, (waiting,) = await queue_behind(batcher, fake, [batcher.submit("run", 1)])
    call = asyncio.create_task(batcher.call(lambda: order.append(("call", len(fake.calls)))))
    for _ in range(1000):  # until the call is queued behind the held batch
        if batcher._calls:
            break
        await asyncio.sleep(0)
    assert batcher._calls, "the call was not queued"
    fake.gate.set()
    await asyncio.gather(holder, waiting, call)
    assert order == [("call", 1)]  # after the holder's batch, before the waiting one
    assert fake.batches == [["hold"], [1]]


async def test_a_due_batch_is_not_held_behind_an_interactive_queue_that_is_not_ready(
    make_batcher,
) -> None:
    steps, runs = FakeModel(), FakeModel()
    batcher = make_batcher({"step": steps, "run": runs}, max_batch_size=8, max_wait_ms=30_000)
    with batcher.stream("step"), batcher.stream("step"):
        # An interactive request of a kind that waits for its second stream...
        waiting = asyncio.create_task(batcher.submit("step", 1, priority=Priority.INTERACTIVE))
        await until_pending(batcher, 1)
        # ...does not keep batch work that is ready from running.
        assert await asyncio.wait_for(batcher.submit("run", 5), 10) == 50
        assert not waiting.done()
        assert await batcher.submit("step", 2, priority=Priority.INTERACTIVE) == 20
        assert await waiting == 10


async def test_a_click_runs_between_two_track_batches(make_batcher) -> None:
    track, decode = FakeModel(), FakeModel()
    order: list[str] = []

    def record(name: str, fake: FakeModel) -> Any:
        def run(items: list[Any]) -> list[Any]:
            order.append(f"{name}{items}")
            return fake(items)

        return run

    functions = {"track": record("track", track), "decode": record("decode", decode)}
    batcher = make_batcher(functions, max_batch_size=8, max_wait_ms=30_000)
    with batcher.stream("track"), batcher.stream("track"):
        first = [asyncio.create_task(batcher.submit("track", item)) for item in ("hold", 1)]
        assert await asyncio.to_thread(track.holding.wait, GATE_TIMEOUT_S)
        # While the first track batch runs: both videos' next frames, then a click.
        second = [asyncio.create_task(batcher.submit("track", i)) for i in (2, 3)]
        click = asyncio.create_task(batcher.submit("decode", 7, priority=Priority.INTERACTIVE))
        await until_pending(batcher, 3)
        track.gate.set()
        assert await asyncio.wait_for(click, 10) == 70
        await asyncio.wait_for(asyncio.gather(*first, *second), 10)
    assert order == ["track['hold', 1]", "decode[7]", "track[2, 3]"]


async def test_busy_for_counts_the_running_batch_only(fake: FakeModel, make_batcher) -> None:
    """What the GPU daemon's liveness reads: a hung model call shows as a growing busy time."""
    batcher = make_batcher({"run": fake})
    assert batcher.busy_for_s() == 0.0
    holder = await hold_model_thread(batcher, fake)
    first = batcher.busy_for_s()
    await asyncio.sleep(0.05)
    assert batcher.busy_for_s() > first > 0.0
    fake.gate.set()
    assert await holder == "hold"
    # The model thread clears it just after delivering the answer.
    for _ in range(1000):
        if batcher.busy_for_s() == 0.0:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the batcher still counts itself busy after its batch ended")
