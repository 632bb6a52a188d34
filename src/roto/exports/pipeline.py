"""The export's blocking part, run on a thread: frames in order, masks, stored frames and source
pixels read as needed, each frame encoded and written into the streaming zip before the next is
read. A matte steadied over +-N frames reads the masks N frames ahead (and keeps N behind); no
more than that is ever held."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from roto.exports.archive import MultipartSink, ZipStream
from roto.exports.formats import WRITERS
from roto.exports.formats.base import Frame
from roto.exports.maskstream import MaskStream
from roto.exports.mattes import FrameMattes, windows
from roto.exports.plan import ExportPlan
from roto.exports.readme import readme
from roto.exports.schemas import MATTE_FORMATS
from roto.exports.source import SourceVideo
from roto.mattes.render import guide_pixels
from roto.timefmt import utcnow

#: Progress goes to the loop at most this often (it throttles again, and checks for a cancel).
PROGRESS_INTERVAL_S = 0.2


def smoothing_radius(plan: ExportPlan) -> int:
    return plan.matte.smooth_frames if plan.format in MATTE_FORMATS else 0


def write_archive(
    plan: ExportPlan,
    masks: MaskStream,
    source: SourceVideo | None,
    sink: MultipartSink,
    on_progress: Callable[[int], None],
    workdir: Path,
    stored: Callable[[list[int]], Iterable[tuple[int, bytes]]] | None = None,
) -> list[tuple[int, str]]:
    """Write the whole archive into ``sink``; returns the uploaded parts. ``stored`` reads the
    stored JPEGs of the frames the writer takes one for (``frames_needed``), in order."""
    archive = ZipStream(sink, utcnow())
    archive.add("README.txt", readme(plan).encode(), compressed=True)
    writer = WRITERS[plan.format](plan, archive, workdir)
    try:
        pixels = None
        if writer.needs_source:
            if source is None:
                raise ValueError(f"{plan.format} needs the source video")
            pixels = source.frames(plan.frame_start, plan.frame_end)
        needed = writer.frames_needed()
        if needed and stored is None:
            raise ValueError(f"{plan.format} needs the stored frames")
        jpegs: Iterator[tuple[int, bytes]] = iter(stored(needed) if stored else ())
        wanted = set(needed)
        included = writer.frames_included()
        radius = smoothing_radius(plan)
        first = max(0, plan.frame_start - radius)
        last = min(max(plan.frame_count - 1, plan.frame_end), plan.frame_end + radius)
        reported = time.monotonic()
        framed = windows(masks.frames(first, last), plan.frame_start, plan.frame_end, radius)
        for done, (frame_masks, window, center) in enumerate(framed, 1):
            index = frame_masks.frame_index
            rgb = next(pixels) if pixels is not None else None
            jpeg = next(jpegs)[1] if index in wanted else None
            if included is None or index in included:
                mattes = None
                if plan.format in MATTE_FORMATS:
                    guide = guide_pixels(jpeg) if plan.matte.needs_pixels and jpeg else None
                    mattes = FrameMattes(plan.matte, window, center, guide)
                writer.add(Frame(index, frame_masks, rgb, mattes, jpeg))
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
