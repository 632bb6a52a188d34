"""A keyframe's stored prompts as one model input: what the segment job decodes and the
propagate job seeds the tracker with, combined the same way for both."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import numpy as np

from roto.objects.prompts_repository import PromptRow
from roto_gpu.tracking.requests import KeyframePrompt


def combine_prompts(rows: Sequence[PromptRow]) -> KeyframePrompt:
    """Every point and label of ``rows`` in order, and the latest box given."""
    points = [point for row in rows for point in row.points]
    labels = [label for row in rows for label in row.labels]
    box = next((row.box for row in reversed(rows) if row.box is not None), None)
    return KeyframePrompt(
        points=np.asarray(points, dtype=np.float64).reshape(-1, 2) if points else None,
        labels=np.asarray(labels, dtype=np.int64) if points else None,
        box=None if box is None else np.asarray(box, dtype=np.float64),
    )


class Keyframe(NamedTuple):
    """One object's input on one frame, and when its newest prompt was made."""

    prompt: KeyframePrompt
    version: datetime


def group_keyframes(rows: list[PromptRow]) -> dict[int, dict[int, Keyframe]]:
    """Each object's keyframes, their prompts combined as the segment job combines them."""
    by_frame: dict[tuple[int, int], list[PromptRow]] = {}
    for row in rows:
        by_frame.setdefault((row.object_id, row.frame_index), []).append(row)
    keyframes: dict[int, dict[int, Keyframe]] = {}
    for (object_id, frame), frame_rows in sorted(by_frame.items()):
        version = max(row.version or row.created_at for row in frame_rows)
        keyframes.setdefault(object_id, {})[frame] = Keyframe(combine_prompts(frame_rows), version)
    return keyframes
