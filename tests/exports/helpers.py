"""Helpers for the export tests: a ready video whose source is a real PyAV file in S3, masks
stored as propagation and prompts store them (real PostgreSQL index, real S3 objects), and
export jobs run by the real media worker."""

from __future__ import annotations

import io
import uuid
import zipfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from roto.masks import rle, storage
from roto.masks.repository import upsert_mask
from roto.masks.schemas import FrameMask
from roto.resources import Resources
from roto.settings import Settings
from roto.videos.storage import frame_key, source_key
from roto.worker.registry import build_role
from tests.masks.helpers import store_chunk
from tests.media import frame_image, make_video
from tests.objects.helpers import new_object
from tests.videos.helpers import announce, connect
from tests.worker.support import running_worker, wait_for_status

TERMINAL = {"succeeded", "failed", "canceled"}
WIDTH, HEIGHT, FRAMES = 160, 96, 12
RATE = Fraction(24000, 1001)


def shape(object_id: int, frame: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A non-convex mask that moves with the frame: a disc with a bar (object 1), or an
    ellipse with a notch (object 2)."""
    yy, xx = np.mgrid[0:height, 0:width]
    if object_id == 1:
        cx, cy, r = 30 + 5 * frame, height / 2, height / 5
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
        inside |= (abs(yy - cy) <= 3) & (xx >= cx) & (xx <= cx + 2.2 * r)
    else:
        cx, cy = width - 40 - 3 * frame, height / 3
        inside = ((xx - cx) / 22) ** 2 + ((yy - cy) / 12) ** 2 <= 1
        inside &= ~((xx > cx) & (yy > cy) & (xx < cx + 10))
    result: np.ndarray = inside
    return result


@dataclass
class ExportVideo:
    id: str
    frames: int
    width: int
    height: int
    #: (object_id, frame) -> the stored mask; absent means no mask stored there.
    masks: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    def expected(self, object_id: int, frame: int) -> np.ndarray:
        found = self.masks.get((object_id, frame))
        return np.zeros((self.height, self.width), bool) if found is None else found


async def ready_video(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    settings: Settings,
    s3: Any,
    tmp_path: Path,
    *,
    frames: int = FRAMES,
    width: int = WIDTH,
    height: int = HEIGHT,
    rate: Fraction = RATE,
    filename: str = "Shot 01.v2.mp4",
    timecode: str | None = None,
    stored_frames: bool = False,
    **encoding: Any,
) -> ExportVideo:
    """A ready video whose real source file is in storage (what ingest leaves behind: with
    ``stored_frames``, the frames' JPEGs too); ``encoding`` goes to ``make_video``."""
    data = make_video(
        tmp_path / "source.mp4", frames=frames, width=width, height=height, fps=rate, **encoding
    )
    data_bytes = data.read_bytes()
    video_id = (await announce(client, headers, len(data_bytes), filename=filename))["video"]["id"]
    s3.put_object(Bucket=settings.s3_bucket, Key=source_key(video_id), Body=data_bytes)
    conn = await connect(settings)
    try:
        await conn.execute(
            "UPDATE videos SET status = 'ready', width = $2::int, height = $3::int, "
            "fps = $4::float8, frame_count = $5::int, duration_s = $5::int / $4::float8, "
            "codec = 'h264', frame_rate = $6, timecode = $7 WHERE id = $1",
            uuid.UUID(video_id),
            width,
            height,
            float(rate),
            frames,
            f"{rate.numerator}/{rate.denominator}",
            timecode,
        )
    finally:
        await conn.close()
    if stored_frames:
        store_frames(settings, s3, video_id, frames, width, height)
    return ExportVideo(video_id, frames, width, height)


def frame_jpeg(index: int, width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(frame_image(index, width, height)).save(out, format="JPEG", quality=92)
    return out.getvalue()


def store_frames(
    settings: Settings, s3: Any, video_id: str, frames: int, width: int, height: int
) -> None:
    """The frames' JPEGs where ingest stores them."""
    for index in range(frames):
        key = frame_key(video_id, index)
        s3.put_object(Bucket=settings.s3_bucket, Key=key, Body=frame_jpeg(index, width, height))


async def store_masks(
    settings: Settings, s3: Any, video: ExportVideo, object_id: int, frames: list[int]
) -> None:
    """Store ``shape`` masks of an object on ``frames`` as one propagated chunk."""
    masks = []
    for frame in frames:
        inside = shape(object_id, frame, video.height, video.width)
        video.masks[(object_id, frame)] = inside
        masks.append(FrameMask(object_id, frame, rle.encode(inside), 0.9, "propagation"))
    await store_chunk(settings, s3, video.id, masks)


async def store_keyframe(
    settings: Settings, s3: Any, video: ExportVideo, object_id: int, frame: int
) -> None:
    """Store a keyframe mask (its own S3 object), as the prompts endpoint does."""
    inside = shape(object_id, frame, video.height, video.width)[::-1]  # differs from propagated
    video.masks[(object_id, frame)] = np.ascontiguousarray(inside)
    mask = FrameMask(object_id, frame, rle.encode(inside), 0.95, "prompt")
    key = storage.keyframe_mask_key(video.id, object_id, frame)
    s3.put_object(Bucket=settings.s3_bucket, Key=key, Body=storage.encode_mask(mask))
    conn = await connect(settings)
    try:
        await upsert_mask(
            conn,
            video_id=uuid.UUID(video.id),
            object_id=object_id,
            frame_index=frame,
            source="prompt",
            score=0.95,
            area=int(inside.sum()),
            storage_key=key,
            job_id=None,
        )
    finally:
        await conn.close()


async def masked_video(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    settings: Settings,
    s3: Any,
    tmp_path: Path,
    **video_args: Any,
) -> ExportVideo:
    """A ready video with "Car" (id 1, category vehicle, masks on every frame, frame 4 a
    keyframe) and "Tree" (id 2, category plant, masks on frames 2..8 only)."""
    video = await ready_video(client, headers, settings, s3, tmp_path, **video_args)
    await new_object(client, headers, video.id, name="Car", color="#ff0000", category="vehicle")
    await new_object(client, headers, video.id, name="Tree", color="#00ff00", category="plant")
    await store_masks(settings, s3, video, 1, [f for f in range(video.frames) if f != 4])
    await store_keyframe(settings, s3, video, 1, 4)
    await store_masks(settings, s3, video, 2, list(range(2, min(9, video.frames))))
    return video


async def submit(
    client: httpx.AsyncClient, headers: dict[str, str], video_id: str, **body: Any
) -> dict[str, Any]:
    """POST an export; returns the queued job."""
    response = await client.post(f"/v1/videos/{video_id}/exports", json=body, headers=headers)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()["job"]
    return job


async def finished_job(
    client: httpx.AsyncClient, headers: dict[str, str], resources: Resources, job_id: str
) -> dict[str, Any]:
    """Run the media worker until the job ends; returns the job as the API shows it."""
    async with running_worker(resources, build_role("media")):
        await wait_for_status(resources, uuid.UUID(job_id), TERMINAL, timeout_s=120)
    response = await client.get(f"/v1/jobs/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


async def export(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    resources: Resources,
    video_id: str,
    **body: Any,
) -> tuple[dict[str, Any], zipfile.ZipFile]:
    """Submit an export, run it and download its archive over HTTP from storage."""
    job = await finished_job(
        client, headers, resources, (await submit(client, headers, video_id, **body))["id"]
    )
    assert job["status"] == "succeeded", job["error"]
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.get(job["result"]["download_url"])
    assert response.status_code == 200, response.text
    assert len(response.content) == job["result"]["size_bytes"]
    return job, zipfile.ZipFile(io.BytesIO(response.content))
