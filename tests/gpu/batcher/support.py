"""The batcher tests' fake model function and helpers. The fake can hold the model thread on a
gate, which makes the order of what queues up behind it deterministic: requests form a batch by
arriving while the model thread is busy, as they do under load."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from roto_gpu.batcher import Batcher

GATE_TIMEOUT_S = 10.0


class FakeModel:
    """Multiplies by ten; raises on items in ``fail_on``; waits on ``gate`` for item "hold"."""

    def __init__(self, fail_on: tuple[Any, ...] = ()) -> None:
        self.calls: list[tuple[float, list[Any]]] = []
        self.fail_on = fail_on
        self.gate = threading.Event()
        self.holding = threading.Event()

    def __call__(self, items: list[Any]) -> list[Any]:
        self.calls.append((time.monotonic(), list(items)))
        if "hold" in items:
            self.holding.set()
            assert self.gate.wait(GATE_TIMEOUT_S)
        if any(item in self.fail_on for item in items):
            raise ValueError(f"cannot run {items}")
        return [item * 10 if isinstance(item, int) else item for item in items]

    @property
    def batches(self) -> list[list[Any]]:
        return [items for _, items in self.calls]

    def ran(self, item: Any) -> bool:
        return any(item in items for items in self.batches)


async def hold_model_thread(batcher: Batcher, fake: FakeModel, kind: str = "run") -> asyncio.Task:
    """Start a request that keeps the model thread busy until ``fake.gate`` is set."""
    task = asyncio.create_task(batcher.submit(kind, "hold"))
    assert await asyncio.to_thread(fake.holding.wait, GATE_TIMEOUT_S)
    return task


async def until_pending(batcher: Batcher, count: int) -> None:
    for _ in range(1000):
        if batcher.pending == count:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{batcher.pending} pending, expected {count}")


async def queue_behind(
    batcher: Batcher, fake: FakeModel, submits: list[Any], kind: str = "run"
) -> tuple[asyncio.Task, list[asyncio.Task]]:
    """Hold the model thread, queue ``submits`` (coroutines) behind it, and return the holder
    and their tasks; ``fake.gate.set()`` lets them run."""
    holder = await hold_model_thread(batcher, fake, kind)
    tasks = [asyncio.create_task(coro) for coro in submits]
    await until_pending(batcher, len(tasks))
    return holder, tasks
