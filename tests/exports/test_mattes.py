"""Mattes through the whole stack: the matte endpoint's preview is the export's file byte for
byte; ``matte`` reaches every matte format as fractional alpha; smooth_frames looks across
frames in the export; ProRes carries a timecode; a 10-bit source keeps its bits; no two objects
share a file name."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
import OpenEXR
from litestar.testing import AsyncTestClient
from PIL import Image

from roto.masks import rle
from roto.masks.schemas import FrameMask
from roto.resources import Resources
from roto.settings import Settings
from roto.worker.registry import build_role
from tests.exports.helpers import (
    HEIGHT,
    WIDTH,
    export,
    masked_video,
    ready_video,
    shape,
    store_masks,
    submit,
)
from tests.masks.helpers import store_chunk
from tests.objects.helpers import new_object
from tests.worker.support import running_worker, wait_for_status

PREVIEWED = [
    {"grow_px": 3, "fill_holes_px": 50, "remove_islands_px": 20},
    {"grow_px": -2, "feather_px": 4},
    {"soft_edges": "guided"},
    {"soft_edges": "matting", "feather_px": 2},
]


async def run_jobs(resources: Resources, job_ids: list[str]) -> None:
    async with running_worker(resources, build_role("media")):
        for job_id in job_ids:
            done = await wait_for_status(
                resources, uuid.UUID(job_id), {"succeeded", "failed"}, timeout_s=180
            )
            assert done.status == "succeeded", done.error_message


async def download(
    client: AsyncTestClient, headers: dict[str, str], job_id: str
) -> zipfile.ZipFile:
    job = (await client.get(f"/v1/jobs/{job_id}", headers=headers)).json()
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.get(job["result"]["download_url"])
    return zipfile.ZipFile(io.BytesIO(response.content))


async def test_the_preview_is_the_exports_frame_byte_for_byte(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path, stored_frames=True)
    jobs = []
    for matte in PREVIEWED:
        body = {"format": "png_sequence", "frame_start": 3, "frame_end": 5, "matte": matte}
        jobs.append((await submit(client, headers, video.id, **body))["id"])
    await run_jobs(resources, jobs)
    for matte, job_id in zip(PREVIEWED, jobs, strict=True):
        archive = await download(client, headers, job_id)
        for frame in (3, 4, 5):
            for label, object_id in (("Car", 1), ("Tree", 2)):
                params = {"object_id": object_id, **matte}
                response = await client.get(
                    f"/v1/videos/{video.id}/masks/{frame}.png", params=params, headers=headers
                )
                exported = archive.read(f"Shot_01_v2_{label}.{frame - 3:04d}.png")
                assert response.status_code == 200, response.text
                assert response.content == exported, (matte, frame, label)
        if matte.get("feather_px") or matte.get("soft_edges"):
            with Image.open(io.BytesIO(exported)) as image:
                pixels = np.asarray(image)
            assert ((pixels > 0) & (pixels < 255)).any(), matte


async def test_bad_matte_parameters_are_400_naming_them(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    for params, field in (
        ({"grow_px": 65}, "grow_px"),
        ({"feather_px": -1}, "feather_px"),
        ({"fill_holes_px": 5000}, "fill_holes_px"),
        ({"soft_edges": "blur"}, "soft_edges"),
    ):
        response = await client.get(
            f"/v1/videos/{video.id}/masks/4.png", params=params, headers=headers
        )
        assert response.status_code == 400, (params, response.text)
        assert field in response.text


async def test_feathered_and_soft_mattes_are_fractional_in_16_bit_png_rgba_and_exr(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path, stored_frames=True)
    matte = {"feather_px": 3, "soft_edges": "guided"}
    bodies = [
        {"format": "png_sequence", "bit_depth": 16},
        {"format": "rgba_png_sequence", "bit_depth": 16},
        {"format": "exr_sequence"},
    ]
    jobs = []
    for body in bodies:
        full = {**body, "frame_start": 4, "frame_end": 4, "matte": matte}
        jobs.append((await submit(client, headers, video.id, **full))["id"])
    await run_jobs(resources, jobs)
    png, rgba, exr = [await download(client, headers, job_id) for job_id in jobs]
    with Image.open(io.BytesIO(png.read("Shot_01_v2_Car.0000.png"))) as image:
        grey = np.asarray(image)
    assert grey.dtype == np.uint16
    soft = grey[(grey > 0) & (grey < 65535)]
    assert soft.size > 20 and (soft % 257 != 0).any()
    data = np.frombuffer(rgba.read("Shot_01_v2_Car.0000.png"), np.uint8)
    bgra = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    assert bgra.dtype == np.uint16 and bgra.shape == (HEIGHT, WIDTH, 4)
    assert np.array_equal(bgra[..., 3], grey)  # the same matte in every matte format
    path = tmp_path / "frame.exr"
    path.write_bytes(exr.read("Shot_01_v2.0000.exr"))
    alpha = OpenEXR.File(str(path), separate_channels=True).channels()["Car.A"].pixels
    assert np.abs(alpha.astype(np.float32) - grey / 65535).max() < 1e-3


async def test_smooth_frames_steadies_the_export_across_frames(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await ready_video(client, headers, settings, s3_sync, tmp_path)
    await new_object(client, headers, video.id, name="Rock")
    steady = shape(1, 0)
    flicker = steady.copy()
    flicker[40:56, 26:34] = False  # a hole on frame 5 only
    masks = [
        FrameMask(1, f, rle.encode(flicker if f == 5 else steady), 0.9, "propagation")
        for f in range(video.frames)
    ]
    await store_chunk(settings, s3_sync, video.id, masks)
    jobs = [
        (await submit(client, headers, video.id, format="png_sequence", matte=matte))["id"]
        for matte in ({"smooth_frames": 2}, {})
    ]
    await run_jobs(resources, jobs)
    smoothed, plain = [await download(client, headers, job_id) for job_id in jobs]
    for archive, hole_kept in ((smoothed, False), (plain, True)):
        for frame in range(video.frames):
            with Image.open(io.BytesIO(archive.read(f"Shot_01_v2_Rock.{frame:04d}.png"))) as im:
                inside = np.asarray(im) == 255
            expected = flicker if (frame == 5 and hole_kept) else steady
            assert np.array_equal(inside, expected), (frame, hole_kept)


def gradient(index: int, width: int, height: int) -> np.ndarray:
    """16-bit colour ramps that 8 bits cannot hold."""
    x = np.linspace(8000, 56000, width)[None, :]
    y = np.linspace(0, 3000, height)[:, None]
    pixels = np.empty((height, width, 3), dtype=np.uint16)
    pixels[..., 0] = x + y
    pixels[..., 1] = 60000 - x
    pixels[..., 2] = 20000 + 10 * index + y
    return pixels


async def test_a_10_bit_source_keeps_its_bits_in_rgba_and_prores_with_a_timecode_track(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await ready_video(
        client,
        headers,
        settings,
        s3_sync,
        tmp_path,
        timecode="10:00:00:00",
        pix_fmt="yuv420p10le",
        image=gradient,
    )
    await new_object(client, headers, video.id, name="Car")
    await store_masks(settings, s3_sync, video, 1, list(range(video.frames)))
    jobs = [
        (await submit(client, headers, video.id, format=fmt, frame_start=2, frame_end=6))["id"]
        for fmt in ("rgba_png_sequence", "prores_4444")
    ]
    await run_jobs(resources, jobs)
    rgba_zip, prores_zip = [await download(client, headers, job_id) for job_id in jobs]
    with av.open(str(tmp_path / "source.mp4")) as container:
        source = [f.to_ndarray(format="rgb48le") for f in container.decode(video=0)]

    data = np.frombuffer(rgba_zip.read("Shot_01_v2_Car.0000.png"), np.uint8)
    rgb = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)[..., :3]
    assert rgb.dtype == np.uint16  # left out, bit_depth follows the source
    assert np.array_equal(rgb, source[2])
    assert (rgb % 257 != 0).mean() > 0.5  # not 8-bit values scaled up

    (tmp_path / "car.mov").write_bytes(prores_zip.read("Shot_01_v2_Car.mov"))
    with av.open(str(tmp_path / "car.mov")) as container:
        timecodes = [s.metadata.get("timecode") for s in container.streams if s.type == "data"]
        assert timecodes == ["10:00:00:02"]
        frames = [f.to_ndarray(format="rgba64le") for f in container.decode(video=0)]
    assert len(frames) == 5
    colour = frames[0][..., :3].astype(np.int64)
    # ProRes is lossy, but it is 10-bit: within a few 10-bit steps, far finer than 8 bits.
    assert np.abs(colour - source[2]).mean() < 2 * 64
    assert np.unique(frames[0][..., 0] >> 6).size > 300


async def test_objects_named_a_a_and_a_1_export_to_distinct_files(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await ready_video(client, headers, settings, s3_sync, tmp_path)
    for object_id, name in ((1, "A"), (2, "A"), (3, "A_1")):
        await new_object(client, headers, video.id, name=name)
        await store_masks(settings, s3_sync, video, object_id, [0, 1])
    jobs = [
        (await submit(client, headers, video.id, format=f, frame_end=1))["id"]
        for f in ("png_sequence", "exr_sequence")
    ]
    await run_jobs(resources, jobs)
    png, exr = [await download(client, headers, job_id) for job_id in jobs]
    names = [n for n in png.namelist() if n.endswith(".png")]
    assert len(names) == len(set(names)) == 3 * 2
    assert sorted({n.split(".")[0] for n in names}) == [
        "Shot_01_v2_A_1",
        "Shot_01_v2_A_1_1",
        "Shot_01_v2_A_2",
    ]
    path = tmp_path / "frame.exr"
    path.write_bytes(exr.read("Shot_01_v2.0000.exr"))
    channels = OpenEXR.File(str(path), separate_channels=True).channels()
    assert sorted(channels) == ["A_1.A", "A_1_1.A", "A_2.A"]


async def test_an_export_is_metered_outside_the_frame_quota(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    video = await masked_video(client, headers, settings, s3_sync, tmp_path)
    job, _ = await export(
        client, headers, resources, video.id, format="png_sequence", frame_start=2, frame_end=8
    )
    row = await resources.pool.fetchrow(
        "SELECT job_type, frames, worker_seconds, counts_toward_quota FROM usage_records "
        "WHERE job_id = $1",
        uuid.UUID(job["id"]),
    )
    assert row is not None and (row["job_type"], row["frames"]) == ("export", 7)
    assert row["counts_toward_quota"] is False
    usage = (await client.get("/v1/billing/usage", headers=headers)).json()
    assert usage["frames_processed"] == 0
