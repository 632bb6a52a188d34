"""What every format writer gets: the plan, the archive to write into, and frames in order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from roto.exports.archive import ZipStream
from roto.exports.maskstream import FrameMasks
from roto.exports.plan import ExportPlan


@dataclass(frozen=True)
class Frame:
    """One frame of the range: its stored masks and, for formats that need them, its pixels."""

    index: int
    masks: FrameMasks
    rgb: np.ndarray | None  # HxWx3 uint8, source pixels


class FormatWriter:
    """Writes one format: ``add`` for each frame in order, then ``finish``."""

    #: Whether ``add`` needs the source's pixels (decoded from the uploaded file).
    needs_source: ClassVar[bool] = False

    def __init__(self, plan: ExportPlan, archive: ZipStream, workdir: Path) -> None:
        self.plan = plan
        self.archive = archive
        self.workdir = workdir

    def add(self, frame: Frame) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Write what comes after the last frame."""

    def close(self) -> None:
        """Release what the writer holds, also after a failure."""

    def source_pixels(self, frame: Frame) -> np.ndarray:
        if frame.rgb is None:
            raise ValueError(f"{type(self).__name__} needs the source's pixels")
        return frame.rgb
