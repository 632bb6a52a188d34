"""The export's blocking part, run on a thread: frames in order, masks and source pixels read as
needed, each frame encoded and written into the streaming zip before the next is read."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from roto.exports.archive import MultipartSink, ZipStream
from roto.exports.formats import WRITERS
from roto.exports.formats.base import Frame
from roto.exports.maskstream import MaskStream
from roto.exports.plan import ExportPlan
from roto.exports.readme import readme
from roto.exports.source import SourceVideo
from roto.timefmt import utcnow

#: Progress goes to the loop at most this often (it throttles again, and checks for a cancel).
PROGRESS_INTERVAL_S = 0.2


def write_archive(
    plan: ExportPlan,
    masks: MaskStream,
    source: SourceVideo | None,
    sink: MultipartSink,
    on_progress: Callable[[int], None],
    workdir: Path,
) -> list[tuple[int, str]]:
    """Write the whole archive into ``sink``; returns the uploaded parts."""
    archive = ZipStream(sink, utcnow())
    archive.add("README.txt", readme(plan).encode(), compressed=True)
    writer = WRITERS[plan.format](plan, archive, workdir)
    try:
        pixels = None
        if writer.needs_source:
            if source is None:
                raise ValueError(f"{plan.format} needs the source video")
            pixels = source.frames(plan.frame_start, plan.frame_end)
        reported = time.monotonic()
        for done, frame_masks in enumerate(masks.frames(plan.frame_start, plan.frame_end), 1):
            rgb = next(pixels) if pixels is not None else None
            writer.add(Frame(frame_masks.frame_index, frame_masks, rgb))
            if time.monotonic() - reported >= PROGRESS_INTERVAL_S:
                reported = time.monotonic()
                on_progress(done)
        writer.finish()
    finally:
        writer.close()
        if source is not None:
            source.close()
    archive.close()
    return sink.finish()
