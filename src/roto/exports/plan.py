"""What one export writes: its objects, frames and numbering, and how its files are named."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import PurePath

from roto.videos.storage import video_prefix

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
#: Longest name part; keeps paths well under the 255-byte file name limit.
MAX_NAME_CHARS = 64


def safe_name(text: str, fallback: str) -> str:
    """``text`` with runs of anything but letters, digits, ``-`` and ``_`` made one ``_``."""
    cleaned = _UNSAFE.sub("_", text).strip("_")[:MAX_NAME_CHARS]
    return cleaned or fallback


def video_stem(filename: str) -> str:
    """``<video>`` in file names: the upload's name without its extension, made safe."""
    return safe_name(PurePath(filename).stem, "video")


def hex_rgb(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` as (r, g, b)."""
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


@dataclass(frozen=True)
class PlannedObject:
    object_id: int
    name: str
    color: str
    #: ``<object>`` in file names and EXR channel names, unique within the export.
    label: str
    #: The object's class in YOLO files: its position in the export, from 0.
    index: int


def label_objects(objects: list[tuple[int, str, str]]) -> list[PlannedObject]:
    """Objects (id, name, colour) in id order with unique file-name labels: a name that two
    objects share after cleaning gets its id appended."""
    labels = [safe_name(name, f"object_{object_id}") for object_id, name, _ in objects]
    planned = []
    for index, ((object_id, name, color), label) in enumerate(zip(objects, labels, strict=True)):
        if labels.count(label) > 1:
            label = f"{label}_{object_id}"
        planned.append(PlannedObject(object_id, name, color, label, index))
    return planned


@dataclass(frozen=True)
class ExportPlan:
    """Everything the format writers need, resolved before the first frame."""

    job_id: uuid.UUID
    video_id: uuid.UUID
    format: str
    video: str  # ``<video>`` in file names
    width: int
    height: int
    frame_start: int
    frame_end: int
    start_number: int
    bit_depth: int
    objects: list[PlannedObject]
    #: The source's frame rate; known only for the formats that decode the source.
    rate: Fraction | None = field(default=None)

    @property
    def frame_total(self) -> int:
        return self.frame_end - self.frame_start + 1

    def number(self, frame_index: int) -> int:
        """The number in the file names of source frame ``frame_index``."""
        return self.start_number + frame_index - self.frame_start

    def sequence_name(self, label: str, frame_index: int, ext: str) -> str:
        """``<video>_<label>.%04d.<ext>``, numbered from ``start_number``."""
        return f"{self.video}_{label}.{self.number(frame_index):04d}.{ext}"

    def frame_name(self, frame_index: int, ext: str) -> str:
        """``<video>.%04d.<ext>``, for files that hold every object of a frame."""
        return f"{self.video}.{self.number(frame_index):04d}.{ext}"

    @property
    def archive_name(self) -> str:
        return f"{self.video}_{self.format}.zip"

    @property
    def archive_key(self) -> str:
        return archive_key(self.video_id, self.job_id, self.archive_name)


def archive_key(video_id: uuid.UUID, job_id: uuid.UUID, archive_name: str) -> str:
    """Under the video's prefix, so deleting the video deletes its exports."""
    return f"{video_prefix(video_id)}exports/{job_id}/{archive_name}"
