"""Helpers for the propagation engine tests: frames of generated videos, prompts, our engine run
to completion, and SAM2's own ``propagate_in_video`` on the same frames for comparison."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from roto_gpu.batcher import Batcher
from roto_gpu.model.prompts import KeyframeRequest, KeyframeState
from roto_gpu.tracking.propagator import Keyframes, Leg, Propagator
from roto_gpu.tracking.requests import ObjectMasks
from roto_gpu.tracking.tracker import VideoTracker
from tests.gpu.conftest import decode_frames
from tests.media import make_video

# A mask may differ from the reference in at most this fraction of its pixels. fp32 on the CPU
# with the same arithmetic: the observed differences are a few pixels along mask borders, from
# batched matrix products (several objects or videos in one pass) rounding differently.
MAX_PIXEL_MISMATCH = 1e-3


def video_frames(directory: Path, count: int, *, width: int = 320, height: int = 192) -> list[Any]:
    """Decoded RGB frames of a generated video (a disc moving over a gradient)."""
    path = make_video(
        directory / f"clip{count}x{width}.mp4", frames=count, width=width, height=height
    )
    return decode_frames(path)


class KeyframePrompt(NamedTuple):
    """A keyframe's clicks and box on a frame never tracked before, in source pixels."""

    points: np.ndarray | None
    labels: np.ndarray | None
    box: np.ndarray | None

    def model_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Points and labels as SAM2 takes them: a box's corners first (labels 2 and 3)."""
        points = [] if self.points is None else self.points.tolist()
        labels = [] if self.labels is None else self.labels.tolist()
        if self.box is not None:
            points = [self.box[:2].tolist(), self.box[2:].tolist(), *points]
            labels = [2, 3, *labels]
        return np.array(points, dtype=np.float64), np.array(labels)


def click(x: float, y: float) -> KeyframePrompt:
    return KeyframePrompt(np.array([[x, y]], dtype=np.float64), np.array([1]), None)


def box(x0: float, y0: float, x1: float, y1: float) -> KeyframePrompt:
    return KeyframePrompt(None, None, np.array([x0, y0, x1, y1], dtype=np.float64))


def clicks(points: list[tuple[float, float]], labels: list[int]) -> KeyframePrompt:
    return KeyframePrompt(np.array(points, dtype=np.float64), np.array(labels), None)


def first_state(model: Any, image: np.ndarray, prompt: KeyframePrompt) -> KeyframeState:
    """The keyframe state of ``prompt`` on a frame never tracked: what the segment job decodes
    for a first click there (SAM2's ``add_new_points_or_box`` on a new frame)."""
    (embedding,) = model.encode_images([image])
    points, labels = prompt.model_points()
    (result,) = model.decode_keyframes([KeyframeRequest(embedding, points=points, labels=labels)])
    state: KeyframeState = result.state
    return state


def states_of(
    model: Any, frames: Sequence[np.ndarray], keyframes: Mapping[int, Mapping[int, Any]]
) -> Keyframes:
    """Prompts (or states) by object and frame, as the states the tracker is seeded with."""
    return {
        object_id: {
            frame: k if isinstance(k, KeyframeState) else first_state(model, frames[frame], k)
            for frame, k in by_frame.items()
        }
        for object_id, by_frame in keyframes.items()
    }


def new_batcher(tracker: VideoTracker, max_wait_ms: float = 5.0) -> Batcher:
    return Batcher(tracker.functions(), max_batch_size=4, max_wait_ms=max_wait_ms)


def propagator(
    tracker: VideoTracker,
    batcher: Batcher,
    frames: Sequence[np.ndarray],
    keyframes: Mapping[int, Mapping[int, Any]],
    legs: Sequence[Leg],
    look_ahead: int = 3,
) -> Propagator:
    async def load(index: int) -> np.ndarray:
        return frames[index]

    height, width = frames[0].shape[:2]
    return Propagator(
        tracker,
        batcher,
        num_frames=len(frames),
        orig_hw=(height, width),
        keyframes=states_of(tracker.model, frames, keyframes),
        legs=legs,
        load=load,
        look_ahead=look_ahead,
    )


async def collect(run: Propagator) -> list[tuple[int, ObjectMasks]]:
    return [item async for item in run.run()]


def reference_masks(
    model: Any,
    frames: Sequence[np.ndarray],
    keyframes: Mapping[int, Mapping[int, KeyframePrompt]],
    runs: Sequence[tuple[int, bool]],
) -> list[tuple[int, dict[int, np.ndarray]]]:
    """SAM2VideoPredictor on the same input tensors as ours: ``runs`` are the (start frame,
    reverse) calls of ``propagate_in_video``, in order, on one inference state."""
    sam = model.video_predictor
    with tempfile.TemporaryDirectory() as folder:
        for index, frame in enumerate(frames):
            Image.fromarray(frame).save(Path(folder) / f"{index:05d}.jpg", quality=95)
        state = sam.init_state(folder)
    # Our frames go through the wrapper's preprocessing (a tensor resize on the device), not
    # PIL's: the comparison is of tracking on identical inputs.
    state["images"] = torch_stack([model._preprocess(frame) for frame in frames])
    state["cached_features"] = {}
    for object_id, prompts in keyframes.items():
        for frame_index, prompt in prompts.items():
            sam.add_new_points_or_box(
                state,
                frame_index,
                object_id,
                points=None if prompt.points is None else prompt.points.tolist(),
                labels=None if prompt.labels is None else prompt.labels.tolist(),
                box=None if prompt.box is None else prompt.box.tolist(),
            )
    produced = []
    for start, reverse in runs:
        for frame_index, object_ids, logits in sam.propagate_in_video(
            state, start_frame_idx=start, reverse=reverse
        ):
            masks = {oid: (logits[k, 0] > 0).cpu().numpy() for k, oid in enumerate(object_ids)}
            produced.append((frame_index, masks))
    return produced


def torch_stack(tensors: list[Any]) -> Any:
    import torch

    return torch.stack(tensors)


def mismatch(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.mean(a != b))


def assert_same_masks(
    ours: Mapping[int, ObjectMasks], theirs: Mapping[int, Mapping[int, np.ndarray]]
) -> float:
    """Every frame and object of ``theirs`` within the tolerance; returns the worst mismatch."""
    assert set(ours) == set(theirs)
    worst = 0.0
    for frame_index, masks in theirs.items():
        assert set(ours[frame_index]) == set(masks)
        for object_id, mask in masks.items():
            worst = max(worst, mismatch(ours[frame_index][object_id].mask, mask))
    assert worst <= MAX_PIXEL_MISMATCH, worst
    return worst
