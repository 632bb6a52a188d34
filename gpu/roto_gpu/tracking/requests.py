"""What goes into and comes out of the video tracker: requests for the batcher, per-object masks,
and the conversions of prompts and scores that SAM2's video predictor makes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch

from roto_gpu.tracking.state import VideoState


class KeyframePrompt(NamedTuple):
    """One object's prompts on one keyframe as one model input, in source pixels."""

    points: np.ndarray | None  # (N, 2) x, y
    labels: np.ndarray | None  # (N,) 1 foreground, 0 background
    box: np.ndarray | None  # (4,) x0, y0, x1, y1


class SeedRequest(NamedTuple):
    state: VideoState
    frame_index: int
    image: np.ndarray
    prompts: Mapping[int, KeyframePrompt]  # object id -> its prompt on this frame


class StepRequest(NamedTuple):
    state: VideoState
    frame_index: int
    image: np.ndarray | None  # None when every object has a keyframe here
    reverse: bool


class ObjectMask(NamedTuple):
    mask: np.ndarray  # bool, the source frame's height x width
    score: float  # predicted IoU times the probability that the object is there, 0-1


#: One frame's masks, by object id (the wire shape of a frame is roto.masks.schemas.FrameMasks).
ObjectMasks = dict[int, ObjectMask]


def point_inputs(
    prompt: KeyframePrompt, orig_hw: tuple[int, int], image_size: int, device: torch.device
) -> dict[str, Any]:
    """Points in the model's input square, box corners first, as add_new_points_or_box."""
    points = torch.zeros(0, 2, dtype=torch.float32)
    labels = torch.zeros(0, dtype=torch.int32)
    if prompt.points is not None and prompt.labels is not None:
        points = torch.tensor(np.asarray(prompt.points).tolist(), dtype=torch.float32)
        labels = torch.tensor(np.asarray(prompt.labels).tolist(), dtype=torch.int32)
    points, labels = points.reshape(1, -1, 2), labels.reshape(1, -1)
    if prompt.box is not None:
        box = torch.tensor(np.asarray(prompt.box).tolist(), dtype=torch.float32)
        points = torch.cat([box.reshape(1, 2, 2), points], dim=1)
        labels = torch.cat([torch.tensor([[2, 3]], dtype=torch.int32), labels], dim=1)
    height, width = orig_hw
    points = points / torch.tensor([width, height]) * image_size
    return {"point_coords": points.to(device), "point_labels": labels.to(device)}


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
