"""What one export writes: its objects, frames and numbering, and how its files are named."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import PurePath

from roto.exports.schemas import Dataset
from roto.mattes.schemas import Matte
from roto.videos.storage import export_prefix

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
    #: ``<object>`` in file names and EXR layer names, unique within the export.
    label: str
    #: The object's position in the export, from 0.
    index: int
    #: The object's class (``Object.category``); datasets number the classes from it.
    category: str = "object"


def label_objects(
    objects: list[tuple[int, str, str]], categories: list[str] | None = None
) -> list[PlannedObject]:
    """Objects (id, name, colour) in id order with unique file-name labels.

    A cleaned name that no other object has is the label. A name that two objects share gets the
    object id appended, again until it differs from every other label, so objects ``A``, ``A``
    and ``A_1`` become ``A_1_1``, ``A_2`` and ``A_1``. Labels are compared without case: an
    archive unpacked on a case-insensitive file system must not merge ``Car`` and ``car``.
    """
    bases = [safe_name(name, f"object_{object_id}") for object_id, name, _ in objects]
    counts = Counter(base.casefold() for base in bases)
    taken = {base.casefold() for base in bases if counts[base.casefold()] == 1}
    planned = []
    for index, ((object_id, name, color), base) in enumerate(zip(objects, bases, strict=True)):
        label = base
        if counts[base.casefold()] > 1:
            label = f"{base}_{object_id}"
            while label.casefold() in taken:
                label = f"{label}_{object_id}"
            taken.add(label.casefold())
        category = categories[index] if categories else "object"
        planned.append(PlannedObject(object_id, name, color, label, index, category))
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
    #: The source's exact frame rate, as ingest read it (or the decoder states it).
    rate: Fraction | None = field(default=None)
    #: Frames of the whole video (a matte steadied over frames looks past the range).
    frame_count: int = 0
    #: The source's timecode at frame 0, HH:MM:SS:FF; None when it carries none.
    timecode: str | None = None
    matte: Matte = field(default_factory=Matte)
    dataset: Dataset = field(default_factory=Dataset)
    #: Bits of the source's samples (decoded at 16 bits where the format can hold more than 8).
    source_bits: int = 8

    @property
    def frame_total(self) -> int:
        return self.frame_end - self.frame_start + 1

    @property
    def categories(self) -> list[str]:
        """The classes of a dataset, in the order of their first object."""
        return list(dict.fromkeys(o.category for o in self.objects))

    def dataset_frames(self) -> list[int]:
        """The frames a dataset annotates: every ``frame_step``-th of the range."""
        return list(range(self.frame_start, self.frame_end + 1, self.dataset.frame_step))

    def splits(self) -> dict[int, str]:
        """The split of each annotated frame: contiguous blocks, train then val then test, each
        its share of the frames; "" for every frame when there are no splits."""
        frames = self.dataset_frames()
        shares = self.dataset.splits
        if not shares:
            return dict.fromkeys(frames, "")
        names = [name for name in ("train", "val", "test") if name in shares]
        total = sum(shares[name] for name in names)
        result: dict[int, str] = {}
        done, cumulative = 0, 0.0
        for name in names:
            cumulative += shares[name] / total
            end = len(frames) if name == names[-1] else round(cumulative * len(frames))
            for frame in frames[done:end]:
                result[frame] = name
            done = max(done, end)
        return result

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
    """Under the video's export prefix: the bucket's expiry rule covers it, and deleting the
    video deletes it."""
    return f"{export_prefix(video_id)}{job_id}/{archive_name}"
