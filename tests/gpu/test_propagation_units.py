"""The propagation engine's plain parts, without a model: legs of a range in each direction,
defaults and the both-ways anchor, the look-ahead window, and the memory bank's eviction."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")

from roto_gpu.tracking.propagator import FrameWindow, Leg, choose_anchor, plan_legs
from roto_gpu.tracking.state import MemoryWindow, VideoState


def test_legs_cover_the_range_once_in_each_direction() -> None:
    assert [list(leg.frames()) for leg in plan_legs(2, 5, "forward")] == [[2, 3, 4, 5]]
    assert [list(leg.frames()) for leg in plan_legs(2, 5, "backward")] == [[5, 4, 3, 2]]
    assert [list(leg.frames()) for leg in plan_legs(2, 6, "both", 4)] == [[4, 5, 6], [3, 2]]
    assert plan_legs(2, 6, "both", 2) == [Leg(2, 6)]
    assert plan_legs(2, 6, "both", 9) == [Leg(6, 6), Leg(5, 2)]
    assert plan_legs(3, 3, "backward") == [Leg(3, 3)]


@pytest.mark.parametrize(("start", "end"), [(5, 4), (-1, 3)])
def test_a_bad_range_is_refused(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="frame range"):
        plan_legs(start, end, "forward")


def test_an_unknown_direction_is_refused() -> None:
    with pytest.raises(ValueError, match="direction"):
        plan_legs(0, 3, "sideways")  # type: ignore[arg-type]


def test_anchor_is_the_first_keyframe_in_range_else_the_nearest_end() -> None:
    assert choose_anchor([9, 4, 12], 3, 10) == 4
    assert choose_anchor([1], 3, 10) == 3
    assert choose_anchor([15], 3, 10) == 10
    assert choose_anchor([], 3, 10) == 3


async def test_window_loads_ahead_in_order_and_holds_at_most_its_size() -> None:
    started: list[int] = []
    release = asyncio.Event()

    async def load(index: int) -> np.ndarray:
        started.append(index)
        await release.wait()
        return np.full((2, 2, 3), index, dtype=np.uint8)

    window = FrameWindow(load, [5, 6, 7, 8, 9, 10], size=3, skip=frozenset({8}))
    first = asyncio.create_task(window.next())
    await asyncio.sleep(0.01)
    assert started == [5, 6, 7]
    release.set()
    got = [await first]
    while (item := await window.next()) is not None:
        assert window.held <= 3
        got.append(item)
    assert [frame for frame, _ in got] == [5, 6, 7, 8, 9, 10]
    assert [None if image is None else int(image[0, 0, 0]) for _, image in got] == [
        5,
        6,
        7,
        None,
        9,
        10,
    ]
    assert 8 not in started
    assert window.peak == 3


async def test_closing_the_window_cancels_its_loads() -> None:
    never = asyncio.Event()

    async def load(index: int) -> np.ndarray:
        await never.wait()
        raise AssertionError("unreachable")

    window = FrameWindow(load, range(100), size=4, skip=frozenset())
    pending = asyncio.create_task(window.next())
    await asyncio.sleep(0.01)
    pending.cancel()
    await window.close()
    assert window.held == 0


def sam_config(**changes: object) -> SimpleNamespace:
    values: dict[str, object] = {
        "memory_temporal_stride_for_eval": 1,
        "num_maskmem": 7,
        "use_obj_ptrs_in_encoder": True,
        "max_obj_ptrs_in_encoder": 16,
    }
    values.update(changes)
    return SimpleNamespace(**values)


def test_memory_window_follows_the_model_config() -> None:
    assert MemoryWindow.of(sam_config(), 1000) == MemoryWindow(spatial=6, pointers=15)
    assert MemoryWindow.of(sam_config(), 5) == MemoryWindow(spatial=6, pointers=6)
    assert MemoryWindow.of(sam_config(memory_temporal_stride_for_eval=2), 1000).spatial == 11
    assert MemoryWindow.of(sam_config(use_obj_ptrs_in_encoder=False), 1000).pointers == 6


def tracked(frame: int) -> dict[str, object]:
    return {"maskmem_features": f"mem{frame}", "obj_ptr": f"ptr{frame}"}


def test_eviction_keeps_keyframes_and_the_window_around_the_next_frame() -> None:
    state = VideoState(100, (4, 4), [1], MemoryWindow(spatial=2, pointers=4))
    state.add_keyframe(1, 0, {"obj_ptr": "key"}, 0.5)
    for frame in range(1, 11):
        state.add_tracked(1, frame, tracked(frame))
    state.evict(11)
    recent = state.objects[1].recent
    assert sorted(recent) == [7, 8, 9, 10]
    assert [("maskmem_features" in recent[f]) for f in (7, 8, 9, 10)] == [False, False, True, True]
    assert recent[7] == {"obj_ptr": "ptr7"}
    assert state.held() == {"keyframe_outputs": 1, "spatial_memories": 2, "object_pointers": 4}
    state.evict(None)
    assert state.held() == {"keyframe_outputs": 1, "spatial_memories": 0, "object_pointers": 0}


def test_pinned_frames_near_an_anchor_survive_until_unpinned() -> None:
    state = VideoState(100, (4, 4), [1], MemoryWindow(spatial=2, pointers=3))
    for frame in range(10, 30):
        state.add_tracked(1, frame, tracked(frame))
    state.pin(10)
    state.evict(30)
    assert sorted(state.objects[1].recent) == [10, 11, 12, 13, 27, 28, 29]
    state.unpin()
    state.evict(9)
    assert sorted(state.objects[1].recent) == [10, 11, 12]
    assert "maskmem_features" not in state.objects[1].recent[12]


def test_a_keyframe_replaces_a_tracked_output_of_its_frame() -> None:
    state = VideoState(100, (4, 4), [1, 2], MemoryWindow(spatial=2, pointers=3))
    state.add_tracked(1, 5, tracked(5))
    state.add_keyframe(1, 5, {"obj_ptr": "key"}, 0.9)
    assert state.is_keyframe(1, 5) and not state.is_keyframe(2, 5)
    assert 5 not in state.objects[1].recent
    assert state.keyframes() == {5}


async def test_ahead_runs_the_producer_up_to_depth_ahead_and_keeps_order() -> None:
    from roto_gpu.jobs.propagate import ahead

    produced: list[int] = []

    async def items() -> Any:
        for n in range(10):
            produced.append(n)
            yield n

    consumer = ahead(items(), 3)
    first = await consumer.__anext__()
    # While the consumer holds the first item, the producer fills the queue (3) and one more
    # is in its hand, waiting for room.
    for _ in range(50):
        if len(produced) >= 5:
            break
        await asyncio.sleep(0)
    assert first == 0 and len(produced) == 5
    rest = [item async for item in consumer]
    assert [first, *rest] == list(range(10))


async def test_ahead_raises_the_producers_error_and_closing_stops_it() -> None:
    from roto_gpu.jobs.propagate import ahead

    closed = asyncio.Event()

    async def failing() -> Any:
        yield 1
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        _ = [item async for item in ahead(failing(), 2)]

    async def endless() -> Any:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    consumer = ahead(endless(), 2)
    assert await consumer.__anext__() == 0
    await consumer.aclose()
    await asyncio.wait_for(closed.wait(), 5)
