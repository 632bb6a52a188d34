"""Datasets for ML: COCO (RLE segmentation, readable by pycocotools) and YOLO segmentation
(normalised polygons, the layout Ultralytics reads), with the frames they annotate.

Both take every ``frame_step``-th frame of the range and put it in a split (contiguous blocks,
``ExportPlan.splits``); classes are the objects' categories, numbered in the order of their
first object; every annotation carries its object's id as a track id that is the same on every
frame (and in every export of the video), the model's score and its source (``prompt`` for a
keyframe, ``propagation`` for a tracked frame).

A zip entry cannot stay open while others are written, so the COCO JSON and the YOLO tracks
table are written to local files while the frames go into the archive, and copied in at the end.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import IO, Any

import cv2
import msgspec
import numpy as np
from pycocotools import mask as coco_mask

from roto.exports.archive import COPY_CHUNK_BYTES
from roto.exports.formats.base import FormatWriter, Frame
from roto.masks.schemas import FrameMask


def _json(value: Any) -> bytes:
    return msgspec.json.encode(value)


class DatasetWriter(FormatWriter):
    """What COCO and YOLO share: the frames taken, their splits and file names, the classes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plan = self.plan
        self.split_of = plan.splits()
        self.split_names = list(dict.fromkeys(self.split_of.values()))
        self.class_of = {o.object_id: plan.categories.index(o.category) for o in plan.objects}

    def frames_needed(self) -> list[int]:
        return self.plan.dataset_frames() if self.plan.dataset.include_frames else []

    def frames_included(self) -> set[int] | None:
        return set(self.plan.dataset_frames())

    def folder(self, root: str, split: str) -> str:
        return f"{root}/{split}/" if split else f"{root}/"

    def image_path(self, frame_index: int) -> str:
        split = self.split_of[frame_index]
        return self.folder("images", split) + self.plan.frame_name(frame_index, "jpg")

    def add_image(self, frame: Frame) -> None:
        if frame.jpeg is not None:
            # Stored as it is: a JPEG does not compress further.
            self.archive.add(self.image_path(frame.index), frame.jpeg)

    def masks_of(self, frame: Frame) -> list[tuple[Any, FrameMask]]:
        """(object, stored mask) of each object with a mask on the frame, in object order."""
        found = []
        for obj in self.plan.objects:
            stored = frame.masks.stored.get(obj.object_id)
            if stored is not None:
                found.append((obj, stored))
        return found


class CocoJson(DatasetWriter):
    """``<video>_coco.json`` (one per split: ``<video>_coco_<split>.json``) and the frames as
    ``images/[<split>/]<video>.NNNN.jpg``; ``file_name`` is that path, relative to the archive's
    root. Category ids are 1..K; annotations add ``track_id``, ``score`` and ``source``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parts: dict[str, tuple[IO[bytes], IO[bytes]]] = {}
        self._counts: dict[str, list[int]] = {}  # split -> [images written, annotations]
        for split in self.split_names:
            stem = split or "all"
            images = (self.workdir / f"coco_{stem}_images.part").open("wb")
            notes = (self.workdir / f"coco_{stem}_annotations.part").open("wb")
            self._parts[split] = (images, notes)
            self._counts[split] = [0, 0]

    def add(self, frame: Frame) -> None:
        self.add_image(frame)
        split = self.split_of[frame.index]
        images, notes = self._parts[split]
        counts = self._counts[split]
        counts[0] += 1
        image = {
            "id": counts[0],
            "file_name": self.image_path(frame.index),
            "width": self.plan.width,
            "height": self.plan.height,
            "frame_index": frame.index,
        }
        images.write((b"," if counts[0] > 1 else b"") + _json(image))
        for obj, stored in self.masks_of(frame):
            annotation = self._annotation(stored)
            if annotation is None:
                continue
            counts[1] += 1
            annotation.update(
                id=counts[1],
                image_id=counts[0],
                category_id=self.class_of[obj.object_id] + 1,
                track_id=obj.object_id,
                score=round(float(stored.score), 6),
                source=stored.source,
            )
            notes.write((b"," if counts[1] > 1 else b"") + _json(annotation))

    @staticmethod
    def _annotation(stored: FrameMask) -> dict[str, Any] | None:
        rle = stored.rle
        raw = {"size": list(rle.size), "counts": rle.counts.encode("ascii")}
        area = int(coco_mask.area(raw))
        if area == 0:
            return None
        x, y, w, h = (float(v) for v in coco_mask.toBbox(raw))
        return {
            "segmentation": {"size": list(rle.size), "counts": rle.counts},
            "area": area,
            "bbox": [x, y, w, h],
            "iscrowd": 0,
        }

    def finish(self) -> None:
        plan = self.plan
        info = {"description": f"Megaton Roto export of {plan.video}", "version": "1.0"}
        categories = [
            {"id": i + 1, "name": name, "supercategory": "object"}
            for i, name in enumerate(plan.categories)
        ]
        tracks = [
            {"id": o.object_id, "name": o.name, "category_id": self.class_of[o.object_id] + 1}
            for o in plan.objects
        ]
        for split, (images, notes) in self._parts.items():
            images.close()
            notes.close()
            name = f"{plan.video}_coco_{split}.json" if split else f"{plan.video}_coco.json"
            with self.archive.open(name, compressed=True) as entry:
                entry.write(b'{"info":' + _json(info) + b',"licenses":[],"categories":')
                entry.write(_json(categories) + b',"tracks":' + _json(tracks) + b',"images":[')
                _copy(Path(images.name), entry)
                entry.write(b'],"annotations":[')
                _copy(Path(notes.name), entry)
                entry.write(b"]}")

    def close(self) -> None:
        for images, notes in self._parts.values():
            images.close()
            notes.close()


def _copy(path: Path, entry: IO[bytes]) -> None:
    with path.open("rb") as part:
        shutil.copyfileobj(part, entry, COPY_CHUNK_BYTES)


def polygons(mask: np.ndarray, min_points: int = 3) -> list[np.ndarray]:
    """Outer contours of the mask's regions as Nx2 (x, y) pixel-centre vertices; holes are not
    representable in YOLO and are filled."""
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    return [c.reshape(-1, 2) for c in contours if len(c) >= min_points]


def yolo_line(class_index: int, polygon: np.ndarray, width: int, height: int) -> str:
    scaled = polygon.astype(np.float64) / np.array([width, height], dtype=np.float64)
    coords = " ".join(f"{v:.6f}" for v in scaled.reshape(-1))
    return f"{class_index} {coords}"


def yaml_string(text: str) -> str:
    """A YAML scalar for any text (a JSON string is one)."""
    return msgspec.json.encode(text).decode()


class YoloSegmentation(DatasetWriter):
    """The Ultralytics layout: ``images/[<split>/]<video>.NNNN.jpg`` with its label file at
    ``labels/[<split>/]<video>.NNNN.txt`` (empty when the frame has no mask), ``data.yaml``
    naming the splits' image folders and the classes, ``classes.txt`` (line i is class i) and
    ``tracks.csv``: for each label line, its object (track id), score and source."""

    TRACK_COLUMNS = ("label_file", "line", "class", "track_id", "object", "score", "source")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tracks_file = (self.workdir / "tracks.csv.part").open("w", newline="")
        self._tracks = csv.writer(self._tracks_file)
        self._tracks.writerow(self.TRACK_COLUMNS)

    def add(self, frame: Frame) -> None:
        self.add_image(frame)
        label_file = self.folder("labels", self.split_of[frame.index])
        label_file += self.plan.frame_name(frame.index, "txt")
        lines = []
        for obj, stored in self.masks_of(frame):
            class_index = self.class_of[obj.object_id]
            for polygon in polygons(frame.masks.mask(obj.object_id)):
                lines.append(yolo_line(class_index, polygon, self.plan.width, self.plan.height))
                row = (label_file, len(lines), class_index, obj.object_id, obj.name)
                self._tracks.writerow((*row, round(float(stored.score), 6), stored.source))
        text = "".join(line + "\n" for line in lines)
        self.archive.add(label_file, text.encode(), compressed=True)

    def finish(self) -> None:
        plan = self.plan
        self._tracks_file.close()
        self.archive.add_file("tracks.csv", self._tracks_file.name, compressed=True)
        self.archive.add("data.yaml", self.data_yaml().encode(), compressed=True)
        names = "".join(" ".join(name.split()) + "\n" for name in plan.categories)
        self.archive.add("classes.txt", names.encode(), compressed=True)

    def data_yaml(self) -> str:
        splits = [s for s in self.split_names if s]
        folder = {s: f"images/{s}" for s in splits} if splits else {}
        train = folder.get("train", "images")
        lines = [
            f"# Megaton Roto export of {self.plan.video}: YOLO segmentation (Ultralytics).",
            "# No 'path': Ultralytics then takes this file's folder as the dataset root.",
            f"train: {train}",
            f"val: {folder.get('val', train)}",
        ]
        if "test" in folder:
            lines.append(f"test: {folder['test']}")
        lines.append("names:")
        lines += [f"  {i}: {yaml_string(name)}" for i, name in enumerate(self.plan.categories)]
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self._tracks_file.close()
