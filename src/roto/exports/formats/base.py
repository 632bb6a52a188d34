"""What every format writer gets: the plan, the archive to write into, and frames in order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from roto.exports.archive import ZipStream
from roto.exports.maskstream import FrameMasks
from roto.exports.mattes import FrameMattes
from roto.exports.plan import ExportPlan


@dataclass(frozen=True)
class Frame:
    """One frame of the range: its stored masks and, for formats that need them, the source's
    pixels, its mattes (matte formats) and its stored JPEG."""

    index: int
    masks: FrameMasks
    #: HxWx3 source pixels, uint8 (uint16 when decoded deep), upright.
    rgb: np.ndarray | None
    mattes: FrameMattes | None = None
    #: The frame as ingest stored it (JPEG), for the frames the writer asked for.
    jpeg: bytes | None = None


class FormatWriter:
    """Writes one format: ``add`` for each frame in order, then ``finish``."""

    #: Whether ``add`` needs the source's pixels (decoded from the uploaded file).
    needs_source: ClassVar[bool] = False
    #: Whether a source deeper than 8 bits is decoded at 16 bits for this format.
    keeps_deep_source: ClassVar[bool] = False

    def __init__(self, plan: ExportPlan, archive: ZipStream, workdir: Path) -> None:
        self.plan = plan
        self.archive = archive
        self.workdir = workdir

    def add(self, frame: Frame) -> None:
        raise NotImplementedError

    def frames_needed(self) -> list[int]:
        """Frames whose stored JPEG ``add`` needs, in order: for soft edges, every frame."""
        if self.plan.matte.needs_pixels:
            return list(range(self.plan.frame_start, self.plan.frame_end + 1))
        return []

    def frames_included(self) -> set[int] | None:
        """The frames ``add`` gets; None for every frame of the range."""
        return None

    def matte_pixels(self, frame: Frame, object_id: int, dtype: type) -> np.ndarray:
        """The object's matte on ``frame`` as an HxW array of ``dtype``."""
        if frame.mattes is None:
            raise ValueError(f"{type(self).__name__} needs the frame's mattes")
        return frame.mattes.alpha(object_id, dtype)

    def finish(self) -> None:
        """Write what comes after the last frame."""

    def close(self) -> None:
        """Release what the writer holds, also after a failure."""

    def source_pixels(self, frame: Frame) -> np.ndarray:
        if frame.rgb is None:
            raise ValueError(f"{type(self).__name__} needs the source's pixels")
        return frame.rgb
