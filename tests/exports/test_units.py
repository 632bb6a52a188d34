"""Pieces of the export on their own: names, polygons, and the streaming multipart upload."""

from __future__ import annotations

import asyncio
import io
import os
import uuid
import zipfile
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from roto.exports.archive import MultipartSink, ZipStream, start_upload
from roto.exports.bridge import LoopBridge
from roto.exports.formats.datasets import polygons
from roto.exports.maskstream import FrameMasks
from roto.exports.mattes import windows
from roto.exports.plan import ExportPlan, label_objects, safe_name, video_stem
from roto.exports.timecode import shifted
from roto.resources import Resources
from roto.storage import complete_multipart
from roto.timefmt import utcnow

MIB = 1024**2


def test_video_and_object_names_are_made_safe_for_file_names() -> None:
    assert video_stem("Shot 01.v2.mp4") == "Shot_01_v2"
    assert video_stem("../../étoile.mov") == "toile"
    assert video_stem("...") == "video"
    assert safe_name("***", "object_3") == "object_3"


def test_names_two_objects_share_get_their_ids() -> None:
    planned = label_objects([(1, "Car", "#ff0000"), (2, "Tree", "#00ff00"), (5, "Car!", "#0000ff")])
    assert [o.label for o in planned] == ["Car_1", "Tree", "Car_5"]
    assert [o.index for o in planned] == [0, 1, 2]


def test_names_that_differ_only_in_case_are_shared_names() -> None:
    planned = label_objects([(1, "Car", "#ff0000"), (2, "car", "#00ff00")])
    assert [o.label for o in planned] == ["Car_1", "car_2"]


def test_names_that_collide_after_suffixing_stay_distinct() -> None:
    planned = label_objects([(1, "A", "#ff0000"), (2, "A", "#00ff00"), (3, "A_1", "#0000ff")])
    labels = [o.label for o in planned]
    assert labels == ["A_1_1", "A_2", "A_1"]
    assert len({label.casefold() for label in labels}) == 3


def test_sequence_numbers_start_at_start_number() -> None:
    plan = ExportPlan(
        job_id=uuid.uuid4(),
        video_id=uuid.uuid4(),
        format="png_sequence",
        video="shot",
        width=4,
        height=4,
        frame_start=10,
        frame_end=20,
        start_number=1001,
        bit_depth=8,
        objects=label_objects([(1, "Car", "#ff0000")]),
        rate=Fraction(30000, 1001),
    )
    assert plan.sequence_name("Car", 10, "png") == "shot_Car.1001.png"
    assert plan.frame_name(20, "exr") == "shot.1011.exr"
    assert plan.frame_total == 11


def test_each_region_of_a_mask_is_its_own_polygon() -> None:
    mask = np.zeros((40, 60), bool)
    mask[5:15, 5:20] = True
    mask[25:35, 30:55] = True
    mask[30, 56] = True  # a lone pixel is too small for a polygon
    found = polygons(mask)
    assert len(found) == 2
    assert sorted(tuple(p.min(axis=0)) for p in found) == [(5, 5), (30, 25)]


async def test_multipart_sink_uploads_full_parts_as_they_fill(resources: Resources) -> None:
    s3, bucket = resources.s3, resources.settings.s3_bucket
    key = f"tests/{uuid.uuid4()}.bin"
    upload_id = await start_upload(s3, bucket, key)
    data = os.urandom(13 * MIB + 12345)
    sink = MultipartSink(LoopBridge(asyncio.get_running_loop()), s3, bucket, key, upload_id)

    def write_all() -> list[tuple[int, str]]:
        for start in range(0, len(data), 300_000):
            sink.write(data[start : start + 300_000])
        return sink.finish()

    parts = await asyncio.to_thread(write_all)
    await complete_multipart(s3, bucket, key, upload_id, parts)
    assert [n for n, _ in parts] == [1, 2]  # 8 MiB, then the rest
    assert sink.most_buffered < 8 * MIB + 300_000  # one part, never the whole stream
    stored = await s3.get_object(Bucket=bucket, Key=key)
    async with stored["Body"] as body:
        assert await body.read() == data


def test_parts_double_in_size_every_thousand_parts() -> None:
    loop = asyncio.new_event_loop()
    try:
        sink = MultipartSink(LoopBridge(loop), None, "bucket", "key", "upload")
        assert sink.part_size == 8 * MIB
        sink.parts = [(n, "etag") for n in range(1, 1001)]
        assert sink.part_size == 16 * MIB
        sink.parts = [(n, "etag") for n in range(1, 10_000)]
        assert sink.part_size == 8 * MIB * 2**9  # 10,000 parts hold about 8 TiB
    finally:
        loop.close()


async def test_streamed_zip_is_readable_by_zipfile(resources: Resources) -> None:
    s3, bucket = resources.s3, resources.settings.s3_bucket
    key = f"tests/{uuid.uuid4()}.zip"
    upload_id = await start_upload(s3, bucket, key)
    sink = MultipartSink(LoopBridge(asyncio.get_running_loop()), s3, bucket, key, upload_id)
    blob = os.urandom(6 * MIB)

    def write_zip() -> list[tuple[int, str]]:
        archive = ZipStream(sink, utcnow())
        archive.add("a.txt", b"hello " * 1000, compressed=True)
        with archive.open("big.bin") as entry:
            for start in range(0, len(blob), MIB):
                entry.write(blob[start : start + MIB])
        archive.close()
        return sink.finish()

    parts = await asyncio.to_thread(write_zip)
    await complete_multipart(s3, bucket, key, upload_id, parts)
    stored = await s3.get_object(Bucket=bucket, Key=key)
    async with stored["Body"] as body:
        raw = await body.read()
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert archive.testzip() is None
        assert archive.read("a.txt") == b"hello " * 1000
        assert archive.read("big.bin") == blob


def test_the_smoothing_window_holds_2n_plus_1_frames_and_is_cut_at_the_ends() -> None:
    made: list[int] = []

    def frames(first: int, last: int) -> Iterator[FrameMasks]:
        for index in range(first, last + 1):
            made.append(index)
            yield FrameMasks(index, {}, 2, 2)

    radius, count = 2, 30
    seen = []
    for masks, window, center in windows(frames(0, count - 1), 0, count - 1, radius):
        indices = [f.frame_index for f in window]
        assert window[center] is masks
        assert indices == list(range(max(0, masks.frame_index - radius),
                                     min(count, masks.frame_index + radius + 1)))  # fmt: skip
        # Read ahead by the radius only: never more frames made than the window needs.
        assert made[-1] <= masks.frame_index + radius
        seen.append(masks.frame_index)
    assert seen == list(range(count))
    # A range inside the video: the window reaches outside it, as far as the video goes.
    made.clear()
    framed = windows(frames(3, 9), 5, 7, 2)
    inner = [(m.frame_index, [f.frame_index for f in w]) for m, w, _ in framed]
    assert inner == [(5, [3, 4, 5, 6, 7]), (6, [4, 5, 6, 7, 8]), (7, [5, 6, 7, 8, 9])]


def test_timecodes_move_with_the_frames_drop_frame_included() -> None:
    assert str(shifted("01:00:00:00", Fraction(24000, 1001), 30)) == "01:00:01:06"
    assert str(shifted("00:59:59:23", Fraction(24), 1)) == "01:00:00:00"
    # 29.97 drop frame skips frame numbers 0 and 1 at each minute but every tenth.
    ntsc = Fraction(30000, 1001)
    assert str(shifted("00:00:59;29", ntsc, 1)) == "00:01:00;02"
    assert str(shifted("00:09:59;29", ntsc, 1)) == "00:10:00;00"
    assert str(shifted("00:01:00;02", ntsc, 17982 - 1800)) == "00:10:00;00"
