"""What the model decodes a keyframe from, and what it keeps of the result: in plain numpy, so the
jobs can store and load them. A keyframe is decoded as SAM2's video predictor decodes a prompt
(``add_new_points_or_box`` / ``add_new_mask``): against the frame's features with no memory where
the frame was never tracked, or the tracker's memory-conditioned features where it was, with the
previous mask logits of the frame as the mask input."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from roto_gpu.model.embedding import Embedding

# SAM's prompt labels: 0 background click, 1 foreground click, 2 and 3 a box's corners.
BOX_LABELS = (2, 3)
POINT_LABELS = (0, 1)


class KeyframeRequest(NamedTuple):
    """One object's prompt on one frame.

    ``points``/``labels`` are every input point of the keyframe in order, in source pixels, box
    corners first (labels 2 and 3) as SAM2 takes a box. ``matte`` (H x W bool) imports a mask
    instead (SAM2 turns it into the output without the decoder). ``context`` is the frame's
    memory-conditioned features (C, E, E) where it was tracked, None where it never was.
    ``prev_logits`` (L, L) is the frame's previous mask, fed to the decoder as SAM2 does;
    ``prev_is_raw`` when they are a tracked frame's raw logits, which SAM2 would have stored hole
    filled (the model fills them first).
    """

    embedding: Embedding
    context: np.ndarray | None = None
    points: np.ndarray | None = None
    labels: np.ndarray | None = None
    prev_logits: np.ndarray | None = None
    matte: np.ndarray | None = None
    prev_is_raw: bool = False

    @property
    def point_count(self) -> int:
        return 0 if self.labels is None else len(self.labels)

    @property
    def pass_kind(self) -> tuple[object, ...]:
        """Requests of one kind can share a decoder pass: the same number of points, the same
        kind of features (with or without memory) and a previous mask or not. Padding points or
        mixing kinds would change the answer compared with a request decoded alone."""
        if self.matte is not None:
            return ("matte",)
        return (
            "points",
            self.point_count,
            self.context is None,
            self.prev_logits is None,
            self.prev_is_raw,
        )


@dataclass(frozen=True, eq=False)
class KeyframeState:
    """What SAM2 keeps of a prompted frame: the low-resolution mask logits after hole filling
    (the mask the user sees and the tracker's memory is encoded from), the object pointer, and
    the object score logit; ``score`` is the predicted IoU times the object's presence."""

    pred_masks: np.ndarray  # (L, L) float32
    obj_ptr: np.ndarray  # (C,) float32
    object_score_logits: float
    score: float

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            pred_masks=self.pred_masks.astype(np.float32),
            obj_ptr=self.obj_ptr.astype(np.float32),
            scalars=np.array([self.object_score_logits, self.score], dtype=np.float64),
        )
        return buffer.getvalue()

    def as_stored(self) -> KeyframeState:
        """This state as ``from_bytes(to_bytes())`` gives it back (float32 arrays of its own,
        float scalars), without serializing it."""
        return KeyframeState(
            self.pred_masks.astype(np.float32),
            self.obj_ptr.astype(np.float32),
            float(np.float64(self.object_score_logits)),
            float(np.float64(self.score)),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyframeState:
        """Parse what ``to_bytes`` wrote; ValueError for anything else."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as stored:
                pred_masks, obj_ptr = stored["pred_masks"], stored["obj_ptr"]
                object_score_logits, score = (float(v) for v in stored["scalars"])
        except (OSError, KeyError, ValueError, EOFError) as exc:
            raise ValueError(f"not a keyframe state: {exc}") from exc
        if pred_masks.ndim != 2 or obj_ptr.ndim != 1:
            raise ValueError("a keyframe state holds (L, L) logits and a (C,) pointer")
        return cls(pred_masks, obj_ptr, object_score_logits, score)


class KeyframeResult(NamedTuple):
    state: KeyframeState
    mask: np.ndarray  # bool, the source frame's height x width


def check_request(request: object, *, embedding_shapes: tuple[tuple[int, ...], ...]) -> None:
    """ValueError naming what is wrong with a keyframe request."""
    if not isinstance(request, KeyframeRequest):
        raise ValueError("a keyframe request must be a KeyframeRequest")
    embedding = request.embedding
    if not isinstance(embedding, Embedding):
        raise ValueError("request needs an Embedding from encode_images")
    if embedding.shapes != embedding_shapes:
        raise ValueError(
            f"embedding shapes {embedding.shapes} do not match this model's {embedding_shapes}"
        )
    if request.matte is not None:
        if request.matte.shape != embedding.orig_hw:
            raise ValueError(f"matte must be {embedding.orig_hw}, got {request.matte.shape}")
        return
    if request.points is None or request.labels is None or not len(request.labels):
        raise ValueError("a request needs points (a box is two of them) or a matte")
    points, labels = np.asarray(request.points), np.asarray(request.labels)
    if points.shape != (len(labels), 2) or not np.isfinite(points).all():
        raise ValueError(f"points must be finite (N, 2) with N labels, got {points.shape}")
    if not np.isin(labels, (*POINT_LABELS, *BOX_LABELS)).all():
        raise ValueError("labels must be 0, 1 (clicks) or 2, 3 (a box's corners)")
    if request.context is not None and request.context.shape != embedding.image_embed.shape:
        raise ValueError(f"context must be {embedding.image_embed.shape}")
    side = embedding.high_res_feats[0].shape[-1]
    if request.prev_logits is not None and request.prev_logits.shape != (side, side):
        raise ValueError(f"prev_logits must be ({side}, {side})")
