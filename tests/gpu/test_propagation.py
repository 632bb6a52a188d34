"""The streaming propagation engine with real SAM2.1 tiny (random weights, 256 px, CPU fp32) on
frames of generated videos: coverage of the range in each direction, keyframe masks, a memory
bank and a frame window that stay bounded, and two videos batched together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")

from roto_gpu.batcher import Batcher
from roto_gpu.tracking.propagator import Direction, Leg, plan_legs
from roto_gpu.tracking.requests import ObjectMasks, SeedRequest, StepRequest
from roto_gpu.tracking.tracker import VideoTracker
from tests.gpu.propagation_support import (
    assert_same_masks,
    box,
    click,
    collect,
    first_state,
    new_batcher,
    propagator,
    video_frames,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tracker(shared_model: Any) -> VideoTracker:
    return VideoTracker(shared_model)


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    return video_frames(tmp_path_factory.mktemp("propagation"), 12)


@pytest.mark.parametrize(
    ("direction", "order"),
    [
        ("forward", [2, 3, 4, 5, 6, 7, 8, 9]),
        ("backward", [9, 8, 7, 6, 5, 4, 3, 2]),
        ("both", [5, 6, 7, 8, 9, 4, 3, 2]),
    ],
)
async def test_every_frame_of_the_range_gets_one_mask_per_object(
    tracker: VideoTracker, frames: list[np.ndarray], direction: Direction, order: list[int]
) -> None:
    keyframes = {1: {5: click(150, 96)}, 2: {5: box(20, 30, 140, 150), 8: click(260, 80)}}
    batcher = new_batcher(tracker)
    try:
        run = propagator(tracker, batcher, frames, keyframes, plan_legs(2, 9, direction, 5))
        produced = await collect(run)
    finally:
        await batcher.close()
    assert [frame for frame, _ in produced] == order
    height, width = frames[0].shape[:2]
    for _, masks in produced:
        assert sorted(masks) == [1, 2]
        for mask, score, _ in masks.values():
            assert mask.shape == (height, width)
            assert mask.dtype == np.bool_
            assert 0.0 <= score <= 1.0
    assert any(0.0 < masks[1].mask.mean() < 1.0 for _, masks in produced)


async def test_keyframes_keep_their_prompt_masks(
    tracker: VideoTracker, frames: list[np.ndarray]
) -> None:
    """The mask at a keyframe is the prompt's, even in the middle of a run where the object is
    tracked into it; tracked there without the prompt, the mask would be another."""
    height, width = frames[0].shape[:2]
    prompt = box(200, 20, 300, 170)
    state = first_state(tracker.model, frames[3], prompt)
    seeded = tracker.seed(
        [
            SeedRequest(
                tracker.new_state(len(frames), (height, width), [1]), 3, frames[3], {1: state}
            )
        ]
    )[0][1]
    batcher = new_batcher(tracker)
    try:
        with_keyframe = dict(
            await collect(
                propagator(
                    tracker,
                    batcher,
                    frames,
                    {1: {0: click(60, 96), 3: state}},
                    plan_legs(0, 5, "forward"),
                )
            )
        )
        without = dict(
            await collect(
                propagator(
                    tracker, batcher, frames, {1: {0: click(60, 96)}}, plan_legs(0, 5, "forward")
                )
            )
        )
    finally:
        await batcher.close()
    assert np.array_equal(with_keyframe[3][1].mask, seeded.mask)
    assert with_keyframe[3][1].score == seeded.score
    assert not np.array_equal(without[3][1].mask, seeded.mask)


async def test_memory_bank_and_frame_window_stay_bounded_over_a_long_video(
    tracker: VideoTracker, tmp_path: Path
) -> None:
    """40 frames: over twice the pointer window (15) and six times the spatial one (6)."""
    frames = video_frames(tmp_path, 40, width=160, height=96)
    look_ahead = 3
    batcher = new_batcher(tracker, max_wait_ms=0)
    run = propagator(
        tracker,
        batcher,
        frames,
        {1: {0: click(40, 48)}, 2: {0: box(0, 0, 80, 60)}},
        plan_legs(0, len(frames) - 1, "forward"),
        look_ahead=look_ahead,
    )
    window = run.state.window
    seen: list[dict[str, int]] = []
    try:
        async for _, masks in run.run():
            assert len(masks) == 2
            seen.append(run.state.held())
            assert run.window is not None
            assert run.window.held <= look_ahead
    finally:
        await batcher.close()
    assert len(seen) == len(frames)
    objects = 2
    # Before each frame's eviction: the window's frames plus the one just tracked, per object.
    assert max(h["spatial_memories"] for h in seen) == objects * (window.spatial + 1)
    assert max(h["object_pointers"] for h in seen) == objects * (window.pointers + 1)
    assert all(h["keyframe_outputs"] == objects for h in seen)
    assert run.window is not None and run.window.peak == look_ahead
    assert run.state.held() == {"keyframe_outputs": 2, "spatial_memories": 0, "object_pointers": 0}


def recording(step: Any, batches: list[list[tuple[int, int]]]) -> Any:
    def run(requests: Sequence[StepRequest]) -> list[ObjectMasks]:
        batches.append([(id(r.state), r.frame_index) for r in requests])
        result: list[ObjectMasks] = step(requests)
        return result

    return run


async def test_two_videos_at_once_give_the_masks_each_gives_alone(
    tracker: VideoTracker, frames: list[np.ndarray], tmp_path: Path
) -> None:
    other = video_frames(tmp_path, 8, width=256, height=160)[::-1]
    first = frames[:8]
    jobs = [
        (first, {1: {0: click(60, 96)}, 2: {0: box(100, 20, 300, 180)}}),
        (other, {1: {0: click(200, 80)}}),
    ]
    alone: list[dict[int, ObjectMasks]] = []
    batcher = new_batcher(tracker)
    try:
        for video, keyframes in jobs:
            alone.append(
                dict(
                    await collect(
                        propagator(tracker, batcher, video, keyframes, plan_legs(0, 7, "forward"))
                    )
                )
            )
    finally:
        await batcher.close()
    batches: list[list[tuple[int, int]]] = []
    shared = Batcher(
        {"track_seed": tracker.seed, "track_step": recording(tracker.step, batches)},
        max_batch_size=4,
        max_wait_ms=50,
    )
    runs = [propagator(tracker, shared, v, k, plan_legs(0, 7, "forward")) for v, k in jobs]
    try:
        together = await asyncio.gather(*(collect(run) for run in runs))
    finally:
        await shared.close()
    for produced, reference in zip(together, alone, strict=True):
        assert [frame for frame, _ in produced] == list(range(8))
        assert_same_masks(
            dict(produced), {f: {o: m.mask for o, m in ms.items()} for f, ms in reference.items()}
        )
    # One frame per video per batch, each video's frames in order, and often two at once.
    for batch in batches:
        assert len({video for video, _ in batch}) == len(batch)
    for run in runs:
        mine = [frame for batch in batches for video, frame in batch if video == id(run.state)]
        assert mine == list(range(8))
    assert sum(len(batch) == 2 for batch in batches) >= 4


async def test_propagation_declares_its_track_stream_while_it_runs(
    tracker: VideoTracker, frames: list[np.ndarray]
) -> None:
    # A minute of max_wait: a track step that waited for company would stall the test.
    batcher = new_batcher(tracker, max_wait_ms=60_000)
    seen: list[dict[str, int]] = []
    try:
        run = propagator(tracker, batcher, frames, {1: {0: click(150, 96)}}, [Leg(0, 3)])
        async for _ in run.run():
            seen.append(batcher.streams)
        assert batcher.streams == {}
    finally:
        await batcher.close()
    assert seen == [{"track_step": 1}] * 4
