"""ProRes 4444, the overlay preview, COCO and YOLO exports opened with independent readers
(PyAV, pycocotools, PIL) and compared with the stored masks."""

from __future__ import annotations

import io
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from litestar.testing import AsyncTestClient
from PIL import Image, ImageDraw
from pycocotools.coco import COCO

from roto.resources import Resources
from roto.settings import Settings
from tests.exports.helpers import FRAMES, RATE, export, masked_video
from tests.media import frame_image


def decode_movie(data: bytes, layout: str) -> tuple[Any, list[np.ndarray]]:
    """(stream facts, frames as arrays) of a movie, read with PyAV from memory."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        facts = {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "rate": stream.average_rate,
            "profile": stream.codec_context.profile,
            "size": (stream.width, stream.height),
        }
        frames = [frame.to_ndarray(format=layout) for frame in container.decode(stream)]
    return facts, frames


async def test_prores_4444_has_the_mask_as_alpha_at_the_source_rate(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    _, archive = await export(client, headers, resources, video.id, format="prores_4444")
    assert sorted(n for n in archive.namelist() if n.endswith(".mov")) == [
        "Shot_01_v2_Car.mov",
        "Shot_01_v2_Tree.mov",
    ]
    for label, object_id in (("Car", 1), ("Tree", 2)):
        facts, frames = decode_movie(archive.read(f"Shot_01_v2_{label}.mov"), "rgba")
        assert facts["codec"] == "prores"
        # FFmpeg's ProRes decoder hands 4444 out as 12 bits; the encoder was fed 10.
        assert facts["pix_fmt"] in {"yuva444p10le", "yuva444p12le"}
        assert "4444" in str(facts["profile"])
        assert facts["rate"] == RATE  # 24000/1001 exactly, not 23.976
        assert facts["size"] == (video.width, video.height)
        assert len(frames) == FRAMES
        for frame, rgba in enumerate(frames):
            expected = video.expected(object_id, frame).astype(np.uint8) * 255
            assert np.array_equal(rgba[..., 3], expected), (label, frame)
            source = frame_image(frame, video.width, video.height).astype(int)
            assert np.abs(rgba[..., :3].astype(int) - source).mean() < 4


async def test_overlay_mp4_blends_object_colours_at_the_source_rate(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    rate = Fraction(25)
    video = await masked_video(client, headers, settings, s3_sync, tmp_path, rate=rate)
    _, archive = await export(client, headers, resources, video.id, format="overlay_mp4")
    facts, frames = decode_movie(archive.read("Shot_01_v2_overlay.mp4"), "rgb24")
    assert (facts["codec"], facts["rate"], len(frames)) == ("h264", rate, FRAMES)
    frame = 5
    rgb = frames[frame].astype(int)
    source = frame_image(frame, video.width, video.height).astype(int)
    car = video.expected(1, frame) & ~video.expected(2, frame)
    outside = ~(video.expected(1, frame) | video.expected(2, frame))
    # Inside the car, half of its red is blended in: red up, green and blue down.
    blended = (source[car] + np.array([255, 0, 0])) / 2
    assert np.abs(rgb[car] - blended).mean() < 8
    assert np.abs(rgb[outside] - source[outside]).mean() < 4


async def test_coco_json_is_read_by_pycocotools_and_equals_the_stored_masks(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    _, archive = await export(
        client, headers, resources, video.id, format="coco_json", frame_start=1, frame_end=10
    )
    path = tmp_path / "coco.json"
    path.write_bytes(archive.read("Shot_01_v2_coco.json"))
    coco = COCO(str(path))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["Car", "Tree"]
    images = coco.loadImgs(coco.getImgIds())
    assert [i["frame_index"] for i in images] == list(range(1, 11))
    assert images[0]["file_name"] == "Shot_01_v2.0000.png"
    seen = 0
    for image in images:
        for object_id in (1, 2):
            ids = coco.getAnnIds(imgIds=[image["id"]], catIds=[object_id])
            expected = video.expected(object_id, image["frame_index"])
            if not expected.any():
                assert ids == []
                continue
            (annotation,) = coco.loadAnns(ids)
            assert np.array_equal(coco.annToMask(annotation).astype(bool), expected)
            assert annotation["area"] == int(expected.sum())
            seen += 1
    assert seen == 10 + 7  # Car on every frame, Tree on 2..8
    json.loads(path.read_text())  # plain JSON, streamed or not


def rasterise(line: str, width: int, height: int) -> tuple[int, np.ndarray]:
    """(class, mask) of one YOLO polygon line, drawn with PIL."""
    values = line.split()
    # Vertices are pixel centres written to 6 decimals: round them back onto the pixel grid.
    coords = np.rint(np.array(values[1:], dtype=float).reshape(-1, 2) * [width, height])
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).polygon([tuple(p) for p in coords], fill=1, outline=1)
    return int(values[0]), np.array(image).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


async def test_yolo_polygons_rasterise_back_to_the_stored_masks(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    _, archive = await export(
        client, headers, resources, video.id, format="yolo_seg", start_number=10
    )
    assert archive.read("classes.txt").decode().splitlines() == ["Car", "Tree"]
    names = sorted(n for n in archive.namelist() if n.startswith("Shot_01_v2."))
    assert names == [f"Shot_01_v2.{n:04d}.txt" for n in range(10, 10 + FRAMES)]
    for frame, name in enumerate(names):
        drawn = {cls: np.zeros((video.height, video.width), bool) for cls in (0, 1)}
        for line in archive.read(name).decode().splitlines():
            cls, mask = rasterise(line, video.width, video.height)
            assert all(0 <= float(v) <= 1 for v in line.split()[1:])
            drawn[cls] |= mask
        for cls, object_id in ((0, 1), (1, 2)):
            expected = video.expected(object_id, frame)
            if expected.any():
                assert iou(drawn[cls], expected) >= 0.95, (name, cls, iou(drawn[cls], expected))
            else:
                assert not drawn[cls].any()
