"""The compiled track step (``roto_gpu.model.backends.track_step``) with real SAM2.1 tiny (random
weights, 256 px, CPU fp32) on frames of a generated video: batches padded to pair buckets and
cut back, a propagation's masks as eager gives them, and ``torch.compile`` itself on the CPU
checked against eager as the ``compile`` backend checks it on a GPU (the backend leaves the
track step eager on a CPU, where it gained nothing)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")

import torch
from torch._dynamo.utils import counters as dynamo_counters

from roto_gpu.model.backends import aot, selection
from roto_gpu.model.backends.cache import ArtifactCache
from roto_gpu.model.backends.selection import BackendContext
from roto_gpu.model.backends.track_step import (
    PAIR_BUCKETS,
    bucket,
    compile_track_step,
    pad_rows,
    uninstall_track_step,
    warm_buckets,
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
from tests.gpu.support import captured_logs

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


def recording(
    batches: list[tuple[str, int]],
    memories: list[int] | None = None,
    modes: list[bool] | None = None,
) -> Callable[..., Any]:
    """A stand-in for ``torch.compile`` that runs the function as it is and notes the batch of
    every call (dimension 0 of the encoder's features, 1 of the attention's memory), the
    attention's memory length, and whether the call ran in inference mode."""

    def compiler(function: Callable[..., Any], **options: Any) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            if options.get("fullgraph"):
                batches.append(("memory_encoder", args[0].shape[0]))
            else:
                batches.append(("memory_attention", args[1].shape[1]))
                if memories is not None:
                    memories.append(args[1].shape[0])
            if modes is not None:
                modes.append(torch.is_inference_mode_enabled())
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


def test_the_buckets_warmed_at_start_reach_the_batch_limit() -> None:
    assert warm_buckets(1) == [1]
    assert warm_buckets(3) == [1, 2, 4]
    assert warm_buckets(8) == [1, 2, 4, 8]
    assert warm_buckets(100) == list(PAIR_BUCKETS)
    assert warm_buckets(0) == [1]


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


def compiled_graphs() -> int:
    """Graphs dynamo has compiled in this process, on any thread (its config patches, such as
    ``error_on_recompile``, reach only the thread that sets them, not the batcher's)."""
    return int(dynamo_counters["stats"]["unique_graphs"])


def backend_context(model: Any, tmp_path: Path, max_batch_size: int) -> BackendContext:
    return BackendContext(
        sam=model.video_predictor,
        device=torch.device("cpu"),
        precision=model.precision,
        image_size=IMAGE_SIZE,
        max_batch_size=max_batch_size,
        identity={"model_id": model.model_id},
        cache=ArtifactCache(tmp_path / "engines"),
    )


def test_the_start_up_check_runs_every_bucket_to_the_batch_limit_with_one_and_two_frames(
    restored: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the ``compile`` backend compiles at start, the compiler recorded: the memory
    encoder at each bucket up to the batch limit (3 pairs: buckets 1, 2 and 4), the attention
    at each bucket with one remembered frame and with two (a one-frame memory is a graph of
    its own), all in inference mode as the tracker calls them."""
    batches: list[tuple[str, int]] = []
    memories: list[int] = []
    modes: list[bool] = []
    monkeypatch.setattr(
        selection,
        "compile_track_step",
        functools.partial(compile_track_step, compiler=recording(batches, memories, modes)),
    )
    names = selection._compile_track_step(backend_context(restored, tmp_path, 3))

    tokens = (IMAGE_SIZE // 16) ** 2
    pointers = restored.video_predictor.hidden_dim // restored.video_predictor.mem_dim
    assert names == ["memory_encoder", "memory_attention"]
    assert sorted(set(batches)) == [
        *[("memory_attention", size) for size in (1, 2, 4)],
        *[("memory_encoder", size) for size in (1, 2, 4)],
    ]
    assert sorted(set(memories)) == [tokens + pointers, 2 * tokens + pointers]
    assert modes and all(modes)


@pytest.mark.skipif(aot.compiler() is None, reason="torch.compile on the CPU needs a C compiler")
async def test_torch_compile_of_the_track_step_compiles_at_start_and_not_during_a_propagation(
    model: Any, frames: list[np.ndarray], tmp_path: Path
) -> None:
    """``torch.compile`` itself: the backend's start-up check compiles the graphs, and a
    propagation then compiles none (dynamo's count of graphs does not move) and gives eager's
    masks. One object: on the CPU, SAM2's rotary encoding takes a path of its own (an expand
    of complex numbers, where CUDA takes a repeat) whose graph inductor breaks for some
    (pairs, frames) sizes; the several-pair buckets are covered above with a recording
    compiler."""
    one_object = {1: KEYFRAMES[1]}
    eager = await propagate(model, frames, one_object)
    try:
        before_start = compiled_graphs()
        with captured_logs() as logs:
            names = selection._compile_track_step(backend_context(model, tmp_path, 1))
        assert "forward" in model.video_predictor.memory_attention.__dict__
        before_propagation = compiled_graphs()
        with captured_logs() as propagation_logs:
            compiled = await propagate(model, frames, one_object)
        after_propagation = compiled_graphs()
    finally:
        uninstall_track_step(model.video_predictor)

    assert names == ["memory_encoder", "memory_attention"]
    assert [e["bucket"] for e in logs if e["event"] == "track_step_bucket_compile"] == [1]
    assert before_propagation > before_start
    assert after_propagation == before_propagation
    assert not [e for e in propagation_logs if e["event"] == "track_step_bucket_compile"]
    assert_same_masks(
        compiled,
        {frame: {o: m.mask for o, m in masks.items()} for frame, masks in eager.items()},
    )
    assert "forward" not in model.video_predictor.memory_encoder.__dict__
