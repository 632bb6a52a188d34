"""Dataset exports opened as their ecosystems open them: COCO with pycocotools, YOLO as the
Ultralytics documentation lays a segmentation dataset out (``data.yaml`` naming image folders,
each image's label file found by swapping ``/images/`` for ``/labels/``, one polygon line per
region). Frames included, classes from the objects' categories, stable track ids, score and
source per annotation, frame step and contiguous splits."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import yaml
from litestar.testing import AsyncTestClient
from PIL import Image, ImageDraw
from pycocotools.coco import COCO

from roto.resources import Resources
from roto.settings import Settings
from tests.exports.helpers import (
    FRAMES,
    HEIGHT,
    WIDTH,
    ExportVideo,
    export,
    masked_video,
    store_masks,
)
from tests.objects.helpers import new_object

SPLITS = {"train": 0.75, "val": 0.25}
# Every 2nd frame of 0..11: 0, 2, ..., 10; the first 3/4 (4.5, rounded to even: 4) train.
TRAIN, VAL = [0, 2, 4, 6], [8, 10]


def open_coco(archive: zipfile.ZipFile, name: str, tmp_path: Path) -> COCO:
    path = tmp_path / PurePosixPath(name).name
    path.write_bytes(archive.read(name))
    json.loads(path.read_text())  # plain JSON, streamed or not
    return COCO(str(path))


def check_coco_split(
    coco: COCO, archive: zipfile.ZipFile, video: ExportVideo, frames: list[int], split: str
) -> int:
    """Every image of the split is its frame (in the archive), every annotation its mask."""
    images = coco.loadImgs(coco.getImgIds())
    assert [i["frame_index"] for i in images] == frames
    cats = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    assert cats == {"vehicle": 1, "plant": 2}
    assert {t["id"]: t["category_id"] for t in coco.dataset["tracks"]} == {1: 1, 2: 2}
    seen = 0
    for image in images:
        assert image["file_name"] == f"images/{split}/Shot_01_v2.{image['frame_index']:04d}.jpg"
        with Image.open(io.BytesIO(archive.read(image["file_name"]))) as picture:
            assert (picture.format, picture.size) == ("JPEG", (WIDTH, HEIGHT))
        for object_id, category in ((1, "vehicle"), (2, "plant")):
            ids = coco.getAnnIds(imgIds=[image["id"]], catIds=[cats[category]])
            expected = video.expected(object_id, image["frame_index"])
            if not expected.any():
                assert ids == []
                continue
            (annotation,) = coco.loadAnns(ids)
            assert np.array_equal(coco.annToMask(annotation).astype(bool), expected)
            assert annotation["track_id"] == object_id
            keyframe = (object_id, image["frame_index"]) == (1, 4)
            assert annotation["source"] == ("prompt" if keyframe else "propagation")
            assert annotation["score"] == (0.95 if keyframe else 0.9)
            seen += 1
    return seen


async def test_coco_holds_its_frames_classes_tracks_and_contiguous_splits(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path, stored_frames=True)
    dataset = {"frame_step": 2, "splits": SPLITS}
    _, archive = await export(
        client, headers, resources, video.id, format="coco_json", dataset=dataset
    )
    train = open_coco(archive, "Shot_01_v2_coco_train.json", tmp_path)
    val = open_coco(archive, "Shot_01_v2_coco_val.json", tmp_path)
    seen = check_coco_split(train, archive, video, TRAIN, "train")
    seen += check_coco_split(val, archive, video, VAL, "val")
    # Car on all 6 frames, Tree on 2, 4, 6 and 8.
    assert seen == 6 + 4
    images = sorted(n for n in archive.namelist() if n.startswith("images/"))
    assert len(images) == 6
    readme = archive.read("README.txt").decode()
    assert "train 4, val 2" in readme and "0: vehicle, 1: plant" in readme


async def test_coco_without_splits_or_frames_names_frames_it_leaves_out(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    _, archive = await export(
        client,
        headers,
        resources,
        video.id,
        format="coco_json",
        frame_start=1,
        frame_end=10,
        dataset={"include_frames": False},
    )
    coco = open_coco(archive, "Shot_01_v2_coco.json", tmp_path)
    images = coco.loadImgs(coco.getImgIds())
    assert [i["frame_index"] for i in images] == list(range(1, 11))
    assert images[0]["file_name"] == "images/Shot_01_v2.0000.jpg"
    assert not [n for n in archive.namelist() if n.startswith("images/")]


def ultralytics_label_path(image_path: str) -> str:
    """Where Ultralytics looks for an image's labels (``img2label_paths``)."""
    before, after = "/images/", "/labels/"
    return after.join(image_path.rsplit(before, 1)).rsplit(".", 1)[0] + ".txt"


def rasterise(line: str, width: int, height: int) -> tuple[int, np.ndarray]:
    """(class, mask) of one YOLO polygon line, drawn with PIL."""
    values = line.split()
    assert len(values) % 2 == 1 and len(values) >= 7  # a class and at least 3 points
    # Vertices are pixel centres written to 6 decimals: round them back onto the pixel grid.
    coords = np.rint(np.array(values[1:], dtype=float).reshape(-1, 2) * [width, height])
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).polygon([tuple(p) for p in coords], fill=1, outline=1)
    return int(values[0]), np.array(image).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


async def test_yolo_is_laid_out_as_ultralytics_reads_it(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path, stored_frames=True)
    # A third object of an existing category: the same class, its own track.
    await new_object(client, headers, video.id, name="Van", category="vehicle")
    await store_masks(settings, s3_sync, video, 3, [0, 2])
    dataset = {"frame_step": 2, "splits": SPLITS}
    _, archive = await export(
        client, headers, resources, video.id, format="yolo_seg", dataset=dataset, start_number=10
    )
    root = "/dataset"  # where a user unpacks it
    files = {f"{root}/{name}" for name in archive.namelist()}
    config = yaml.safe_load(archive.read("data.yaml"))
    assert "path" not in config  # Ultralytics then uses data.yaml's folder
    assert config["names"] == {0: "vehicle", 1: "plant"}
    assert archive.read("classes.txt").decode().splitlines() == ["vehicle", "plant"]
    tracks = list(csv.DictReader(io.StringIO(archive.read("tracks.csv").decode())))
    for split, frames in (("train", TRAIN), ("val", VAL)):
        folder = f"{root}/{config[split]}/"
        images = sorted(f for f in files if f.startswith(folder) and f.endswith(".jpg"))
        assert images == [f"{folder}Shot_01_v2.{10 + n:04d}.jpg" for n in frames]
        for frame, image in zip(frames, images, strict=True):
            label = ultralytics_label_path(image)
            assert label in files
            name = label.removeprefix(f"{root}/")
            drawn = {cls: np.zeros((HEIGHT, WIDTH), bool) for cls in (0, 1)}
            lines = archive.read(name).decode().splitlines()
            for number, line in enumerate(lines, 1):
                cls, mask = rasterise(line, WIDTH, HEIGHT)
                assert all(0 <= float(v) <= 1 for v in line.split()[1:])
                drawn[cls] |= mask
                (row,) = [t for t in tracks if (t["label_file"], t["line"]) == (name, str(number))]
                assert row["class"] == str(cls)
                assert row["track_id"] in {0: {"1", "3"}, 1: {"2"}}[cls]
                assert row["source"] in {"prompt", "propagation"} and float(row["score"]) > 0
            vans = [t for t in tracks if t["label_file"] == name and t["track_id"] == "3"]
            assert bool(vans) == (frame in (0, 2))
            for cls, object_ids in ((0, (1, 3)), (1, (2,))):
                expected = np.zeros((HEIGHT, WIDTH), bool)
                for object_id in object_ids:
                    expected |= video.expected(object_id, frame)
                if expected.any():
                    assert iou(drawn[cls], expected) >= 0.95, (name, cls)
                else:
                    assert not drawn[cls].any()
    assert len([n for n in files if n.endswith(".txt") and "/labels/" in n]) == 6
    assert FRAMES == 12
