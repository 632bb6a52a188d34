"""What goes into and comes out of the video tracker: requests for the batcher, per-object masks
with what a tracked frame leaves for later corrections, and the score SAM2's outputs give."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch

from roto_gpu.model.embedding import Embedding
from roto_gpu.model.prompts import KeyframeState
from roto_gpu.tracking.state import VideoState


class SeedRequest(NamedTuple):
    """Condition the tracker on one frame's keyframe states (object id -> state)."""

    state: VideoState
    frame_index: int
    image: np.ndarray
    keyframes: Mapping[int, KeyframeState]


class StepRequest(NamedTuple):
    state: VideoState
    frame_index: int
    image: np.ndarray | None  # None when every object has a keyframe here
    reverse: bool


class TrackRecord(NamedTuple):
    """What a tracked frame leaves for a correction made on it later: SAM2's raw low-resolution
    logits (before hole filling: what its memory encoder read), the object pointer, the object
    score logit, and which way the frame was tracked."""

    logits: np.ndarray  # (L, L) float32
    obj_ptr: np.ndarray  # (C,) float32
    object_score_logits: float
    reverse: bool


class ObjectMask(NamedTuple):
    mask: np.ndarray  # bool, the source frame's height x width
    score: float  # predicted IoU times the probability that the object is there, 0-1
    record: TrackRecord | None = None  # None on a keyframe (its state is stored with it)


#: One frame's masks, by object id (the wire shape of a frame is roto.masks.schemas.FrameMasks).
ObjectMasks = dict[int, ObjectMask]


class ContextRequest(NamedTuple):
    """The memory the tracker had when it tracked ``frame_index`` (in direction ``reverse``):
    the keyframe states of that run with their frames' features, and the records of the frames
    tracked before it (features only where their spatial memory is read). Answered with the
    frame's memory-conditioned features (C, E, E), which a correction there is decoded against."""

    frame_index: int
    num_frames: int
    reverse: bool
    current: Embedding
    keyframes: Mapping[int, tuple[Embedding, KeyframeState]]
    tracked: Mapping[int, tuple[Embedding | None, TrackRecord]]


def require_image(request: StepRequest) -> np.ndarray:
    if request.image is None:
        raise ValueError(
            f"frame {request.frame_index} needs its image: not every object has a keyframe there"
        )
    return request.image


def score(ious: torch.Tensor, object_score_logits: torch.Tensor) -> list[float]:
    """Per row: the chosen mask's predicted IoU times the object's presence probability."""
    best = ious.float().max(dim=-1).values.clamp(0.0, 1.0)
    present = torch.sigmoid(object_score_logits.float()).reshape(-1)
    return [float(v) for v in (best * present).cpu().tolist()]
