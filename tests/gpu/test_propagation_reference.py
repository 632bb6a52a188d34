"""Our streaming propagation against SAM2's own ``SAM2VideoPredictor.propagate_in_video`` on the
same frames, prompts and input tensors (real SAM2.1 tiny, random weights, 256 px, CPU fp32).
Masks must agree to within 0.1 % of their pixels (``MAX_PIXEL_MISMATCH``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")

from roto_gpu.tracking.propagator import Leg
from roto_gpu.tracking.tracker import VideoTracker
from tests.gpu.propagation_support import (
    assert_same_masks,
    box,
    click,
    clicks,
    collect,
    new_batcher,
    propagator,
    reference_masks,
    video_frames,
)

pytestmark = pytest.mark.slow

FRAMES = 8
LONG_FRAMES = 20


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    return video_frames(tmp_path_factory.mktemp("reference"), FRAMES)


@pytest.fixture(scope="module")
def tracker(shared_model: Any) -> VideoTracker:
    return VideoTracker(shared_model)


async def ours(tracker: VideoTracker, frames: list[np.ndarray], keyframes: Any, legs: list[Leg]):
    batcher = new_batcher(tracker)
    try:
        produced = await collect(propagator(tracker, batcher, frames, keyframes, legs))
    finally:
        await batcher.close()
    return produced


async def test_forward_with_two_objects_and_keyframes_on_different_frames_matches_sam2(
    shared_model: Any, tracker: VideoTracker, frames: list[np.ndarray]
) -> None:
    keyframes = {
        1: {0: click(80, 96)},
        2: {0: box(10, 10, 150, 120), 4: clicks([(200, 90), (30, 30)], [1, 0])},
    }
    produced = await ours(tracker, frames, keyframes, [Leg(0, FRAMES - 1)])
    reference = reference_masks(shared_model, frames, keyframes, [(0, False)])
    assert [f for f, _ in produced] == [f for f, _ in reference] == list(range(FRAMES))
    assert_same_masks(dict(produced), dict(reference))


async def test_backward_matches_sam2_in_reverse(
    shared_model: Any, tracker: VideoTracker, frames: list[np.ndarray]
) -> None:
    last = FRAMES - 1
    keyframes = {1: {last: click(250, 100)}, 2: {last: box(20, 40, 200, 180)}}
    produced = await ours(tracker, frames, keyframes, [Leg(last, 0)])
    reference = reference_masks(shared_model, frames, keyframes, [(last, True)])
    assert [f for f, _ in produced] == [f for f, _ in reference] == list(range(last, -1, -1))
    assert_same_masks(dict(produced), dict(reference))


async def test_both_ways_matches_sam2_forward_then_reverse(
    shared_model: Any, tracker: VideoTracker, tmp_path: Path
) -> None:
    """SAM2 tracking back from the anchor reads the memories that tracking forward left near
    it. The forward leg here is longer than the pointer window (15 frames), so our engine must
    keep those memories across the legs (and only those) to agree."""
    frames = video_frames(tmp_path, LONG_FRAMES)
    anchor = 2
    last = LONG_FRAMES - 1
    keyframes = {1: {anchor: click(120, 96)}}
    produced = await ours(tracker, frames, keyframes, [Leg(anchor, last), Leg(anchor - 1, 0)])
    reference = reference_masks(shared_model, frames, keyframes, [(anchor, False), (anchor, True)])
    # SAM2 yields the anchor twice (once per call); the second is its keyframe mask again.
    reference = [item for n, item in enumerate(reference) if n != LONG_FRAMES - anchor]
    assert [f for f, _ in produced] == [f for f, _ in reference]
    assert_same_masks(dict(produced), dict(reference))
    # Exactly the same arithmetic for one object, one video: not a pixel apart.
    for frame_index, masks in reference:
        assert np.array_equal(dict(produced)[frame_index][1].mask, masks[1])
