"""Mask requests and their checks, in plain numpy: what the model wrapper accepts."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from roto_gpu.model.embedding import Embedding

# SAM's prompt labels: 0 background click, 1 foreground click, 2 and 3 a box's corners.
BOX_LABELS = (2, 3)


class MaskRequest(NamedTuple):
    """One object's prompt on one image; coordinates are pixels of the original image."""

    embedding: Embedding
    points: np.ndarray | None  # (N, 2) x, y
    labels: np.ndarray | None  # (N,) 1 foreground, 0 background
    box: np.ndarray | None = None  # (4,) x0, y0, x1, y1
    mask_input: np.ndarray | None = None  # low-resolution logits of an earlier prediction


class MaskPrediction(NamedTuple):
    mask: np.ndarray  # bool, the original image's height x width
    score: float  # predicted IoU, 0-1


class Prompt(NamedTuple):
    """A request checked and scaled to the model's input square, box corners first."""

    embedding: Embedding
    coords: np.ndarray  # (N, 2) float32
    labels: np.ndarray  # (N,) int32
    mask_input: np.ndarray | None  # (1, L, L) float32


def prepare_prompt(
    request: tuple[object, ...],
    *,
    image_size: int,
    embedding_shapes: tuple[tuple[int, ...], ...],
) -> Prompt:
    """Check one request and scale its coordinates as SAM2ImagePredictor does; ValueError
    names what is wrong."""
    try:
        embedding, points, labels, box, mask_input = MaskRequest(*request)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ValueError(
            f"a mask request is (embedding, points, labels, box, mask_input): {exc}"
        ) from exc
    if not isinstance(embedding, Embedding):
        raise ValueError("request needs an Embedding from encode_images")
    if embedding.shapes != embedding_shapes:
        raise ValueError(
            f"embedding shapes {embedding.shapes} do not match this model's {embedding_shapes}"
        )
    height, width = embedding.orig_hw
    scale = np.array([image_size / width, image_size / height], dtype=np.float64)
    coords: list[np.ndarray] = []
    label_parts: list[np.ndarray] = []
    if box is not None:
        corners = _finite(box, "box", (4,)).reshape(2, 2)
        if (corners[1] < corners[0]).any():
            raise ValueError("box must be x0, y0, x1, y1 with x0 <= x1 and y0 <= y1")
        coords.append(corners * scale)
        label_parts.append(np.array(BOX_LABELS))
    if points is not None or labels is not None:
        if points is None or labels is None:
            raise ValueError("points and labels go together")
        xy = _finite(points, "points", (-1, 2))
        flags = np.asarray(labels)
        if flags.shape != (len(xy),) or not np.isin(flags, (0, 1)).all():
            raise ValueError("labels must hold one 0 or 1 per point")
        coords.append(xy * scale)
        label_parts.append(flags)
    low_res = None
    if mask_input is not None:
        side = embedding.high_res_feats[0].shape[-1]
        low_res = _finite(mask_input, "mask_input", (side, side)).reshape(1, side, side)
    n_points = sum(len(c) for c in coords)
    if n_points == 0 and low_res is None:
        raise ValueError("a request needs points, a box or a mask_input")
    return Prompt(
        embedding=embedding,
        coords=np.concatenate(coords).astype(np.float32) if coords else np.zeros((0, 2), "f4"),
        labels=np.concatenate(label_parts).astype(np.int32) if coords else np.zeros(0, "i4"),
        mask_input=None if low_res is None else low_res.astype(np.float32),
    )


def _finite(value: object, name: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric") from exc
    if array.ndim == len(shape) + 1 and array.shape[0] == 1:
        array = array[0]
    expected = all(want in (-1, got) for want, got in zip(shape, array.shape, strict=False))
    if array.ndim != len(shape) or not expected:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array
