"""The compiled track step (``roto_gpu.model.backends.track_step``) with real SAM2.1 tiny (random
weights, 256 px, CPU fp32) on frames of a generated video: batches padded to pair buckets and
cut back, a propagation's masks as eager gives them, and ``torch.compile`` itself on the CPU
checked against eager as the ``compile`` backend checks it on a GPU (the backend leaves the
track step eager on a CPU, where it gained nothing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")

import torch

from roto_gpu.model.backends import aot, selection
from roto_gpu.model.backends.cache import ArtifactCache
from roto_gpu.model.backends.selection import BackendContext
from roto_gpu.model.backends.track_step import (
    PAIR_BUCKETS,
    bucket,
    compile_track_step,
    pad_rows,
    uninstall_track_step,
)
from roto_gpu.tracking.propagator import plan_legs
from roto_gpu.tracking.requests import ObjectMasks
from roto_gpu.tracking.tracker import VideoTracker
from tests.gpu.conftest import IMAGE_SIZE
from tests.gpu.propagation_support import (
    assert_same_masks,
    click,
    collect,
    new_batcher,
    propagator,
    video_frames,
)

pytestmark = pytest.mark.slow

#: Three objects: each track step has three (video, object) pairs, padded to a bucket of four.
KEYFRAMES = {1: {0: click(150, 96)}, 2: {0: click(60, 60)}, 3: {0: click(260, 150)}}


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    return video_frames(tmp_path_factory.mktemp("track-step"), 5)


async def propagate(
    model: Any, frames: list[np.ndarray], keyframes: dict[int, dict[int, Any]]
) -> dict[int, ObjectMasks]:
    tracker = VideoTracker(model)
    batcher = new_batcher(tracker)
    try:
        legs = plan_legs(0, len(frames) - 1, "forward", 0)
        return dict(await collect(propagator(tracker, batcher, frames, keyframes, legs)))
    finally:
        await batcher.close()


def recording(batches: list[tuple[str, int]]) -> Callable[..., Any]:
    """A stand-in for ``torch.compile`` that runs the function as it is and notes the batch of
    every call (dimension 0 of the encoder's features, 1 of the attention's memory)."""

    def compiler(function: Callable[..., Any], **options: Any) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            if options.get("fullgraph"):
                batches.append(("memory_encoder", args[0].shape[0]))
            else:
                batches.append(("memory_attention", args[1].shape[1]))
            return function(*args)

        return run

    return compiler


@pytest.fixture
def restored(shared_model: Any) -> Iterator[Any]:
    yield shared_model
    uninstall_track_step(shared_model.video_predictor)


def test_a_batch_is_padded_to_the_next_bucket_with_copies_of_its_last_row() -> None:
    assert [bucket(n) for n in (1, 2, 3, 5, 9, 33, 64, 65, 130)] == [
        1,
        2,
        4,
        8,
        16,
        64,
        64,
        128,
        192,
    ]
    rows = torch.arange(6.0).reshape(3, 2)
    padded = pad_rows(rows, 4, 0)
    assert padded.tolist() == [[0, 1], [2, 3], [4, 5], [4, 5]]
    assert pad_rows(rows, 3, 0) is rows
    sequence_first = torch.arange(6.0).reshape(2, 3, 1)
    assert pad_rows(sequence_first, 4, 1)[:, 3].tolist() == [[2.0], [5.0]]


async def test_three_objects_track_in_a_bucket_of_four_and_give_eager_masks(
    restored: Any, frames: list[np.ndarray]
) -> None:
    eager = await propagate(restored, frames, KEYFRAMES)
    batches: list[tuple[str, int]] = []
    names = compile_track_step(restored.video_predictor, compiler=recording(batches))
    compiled = await propagate(restored, frames, KEYFRAMES)

    assert names == ["memory_encoder", "memory_attention"]
    assert ("memory_encoder", 4) in batches and ("memory_attention", 4) in batches
    assert {size for _, size in batches} <= set(PAIR_BUCKETS)
    assert all(len(masks) == 3 for masks in compiled.values())
    assert_same_masks(
        compiled,
        {frame: {o: m.mask for o, m in masks.items()} for frame, masks in eager.items()},
    )


@pytest.mark.skipif(aot.compiler() is None, reason="torch.compile on the CPU needs a C compiler")
async def test_torch_compile_of_the_track_step_passes_the_backends_check_and_gives_eager_masks(
    model: Any, frames: list[np.ndarray], tmp_path: Path
) -> None:
    one_object = {1: KEYFRAMES[1]}
    eager = await propagate(model, frames, one_object)
    context = BackendContext(
        sam=model.video_predictor,
        device=torch.device("cpu"),
        precision=model.precision,
        image_size=IMAGE_SIZE,
        max_batch_size=4,
        identity={"model_id": model.model_id},
        cache=ArtifactCache(tmp_path / "engines"),
    )
    try:
        names = selection._compile_track_step(context)
        assert "forward" in model.video_predictor.memory_attention.__dict__
        compiled = await propagate(model, frames, one_object)
    finally:
        uninstall_track_step(model.video_predictor)

    assert names == ["memory_encoder", "memory_attention"]
    assert_same_masks(
        compiled,
        {frame: {o: m.mask for o, m in masks.items()} for frame, masks in eager.items()},
    )
    assert "forward" not in model.video_predictor.memory_encoder.__dict__
