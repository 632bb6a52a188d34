"""Datasets for ML: COCO (one JSON, RLE segmentation readable by pycocotools) and YOLO
segmentation (one .txt per frame of normalised polygons)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import IO, Any

import cv2
import msgspec
import numpy as np
from pycocotools import mask as coco_mask

from roto.exports.formats.base import FormatWriter, Frame
from roto.masks.schemas import Rle


def _json(value: Any) -> bytes:
    return msgspec.json.encode(value)


class CocoJson(FormatWriter):
    """``<video>_coco.json``: one image per frame (``file_name`` ``<video>.%04d.png``, not
    included), one category per object (id = object id), one annotation per non-empty mask.

    The JSON is written while frames arrive: images first (known from the range), then each
    frame's annotations, so only one frame's masks are ever held.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plan = self.plan
        self._entry_context: AbstractContextManager[IO[bytes]] | None = self.archive.open(
            f"{plan.video}_coco.json", compressed=True
        )
        self._entry: IO[bytes] = self._entry_context.__enter__()  # left in finish/close
        info = {"description": f"Megaton Roto export of {plan.video}", "version": "1.0"}
        categories = [
            {"id": o.object_id, "name": o.name, "supercategory": "object"} for o in plan.objects
        ]
        self._entry.write(b'{"info":' + _json(info) + b',"licenses":[],"categories":')
        self._entry.write(_json(categories) + b',"images":[')
        for offset in range(plan.frame_total):
            frame_index = plan.frame_start + offset
            image = {
                "id": self.image_id(frame_index),
                "file_name": plan.frame_name(frame_index, "png"),
                "width": plan.width,
                "height": plan.height,
                "frame_index": frame_index,
            }
            self._entry.write((b"," if offset else b"") + _json(image))
        self._entry.write(b'],"annotations":[')
        self._next_id = 1

    def image_id(self, frame_index: int) -> int:
        """Images are numbered from 1 in frame order (0 is not a valid COCO id to some tools)."""
        return frame_index - self.plan.frame_start + 1

    def add(self, frame: Frame) -> None:
        for obj in self.plan.objects:
            stored = frame.masks.rles.get(obj.object_id)
            if stored is None:
                continue
            annotation = self._annotation(stored)
            if annotation is None:
                continue
            annotation.update(image_id=self.image_id(frame.index), category_id=obj.object_id)
            self._entry.write((b"," if self._next_id > 1 else b"") + _json(annotation))
            self._next_id += 1

    def _annotation(self, stored: Rle) -> dict[str, Any] | None:
        raw = {"size": list(stored.size), "counts": stored.counts.encode("ascii")}
        area = int(coco_mask.area(raw))
        if area == 0:
            return None
        x, y, w, h = (float(v) for v in coco_mask.toBbox(raw))
        return {
            "id": self._next_id,
            "segmentation": {"size": list(stored.size), "counts": stored.counts},
            "area": area,
            "bbox": [x, y, w, h],
            "iscrowd": 0,
        }

    def finish(self) -> None:
        self._entry.write(b"]}")
        self.close()

    def close(self) -> None:
        if self._entry_context is not None:
            context, self._entry_context = self._entry_context, None
            context.__exit__(None, None, None)


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


class YoloSegmentation(FormatWriter):
    """``<video>.%04d.txt`` per frame (empty when it has no mask) and ``classes.txt``: class i is
    the i-th exported object (by id), each line ``class x1 y1 x2 y2 ...`` in 0..1."""

    def add(self, frame: Frame) -> None:
        lines = []
        for obj in self.plan.objects:
            if obj.object_id not in frame.masks.rles:
                continue
            for polygon in polygons(frame.masks.mask(obj.object_id)):
                lines.append(yolo_line(obj.index, polygon, self.plan.width, self.plan.height))
        text = "".join(line + "\n" for line in lines)
        self.archive.add(self.plan.frame_name(frame.index, "txt"), text.encode(), compressed=True)

    def finish(self) -> None:
        names = "".join(" ".join(obj.name.split()) + "\n" for obj in self.plan.objects)
        self.archive.add("classes.txt", names.encode(), compressed=True)
