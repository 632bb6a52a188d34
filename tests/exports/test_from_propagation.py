"""An export of masks made by the real pipeline: a click (segment job) and a propagation, both run
by the GPU role with SAM2 (tiny, random weights, CPU), then exported by the media role."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from roto.masks import rle
from roto.masks.loading import MaskLoader
from roto.masks.repository import list_masks
from roto.resources import Resources
from roto.worker.registry import build_role
from tests.exports.helpers import TERMINAL
from tests.gpu.conftest import build_model
from tests.gpu.propagate_support import enqueue_propagate
from tests.gpu.propagation_support import video_frames
from tests.gpu.support import (
    add_object,
    add_prompt,
    daemon_with,
    ready_clip,
    running_daemon,
)
from tests.gpu.support import segment as run_segment
from tests.worker.support import enqueue_job, running_worker, wait_for_status

pytestmark = pytest.mark.slow
FRAMES = 6


@pytest.fixture(scope="module")
def sam2() -> Any:
    pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")
    return build_model()


async def test_png_mattes_of_a_clicked_and_propagated_object_equal_its_stored_masks(
    resources: Resources, sam2: Any, tmp_path: Path
) -> None:
    clip = await ready_clip(resources, video_frames(tmp_path, FRAMES, width=160, height=96))
    await add_object(resources, clip, 1)
    await add_prompt(resources, clip, object_id=1, frame_index=0, points=[[40, 48]], labels=[1])
    async with running_daemon(resources, daemon_with(sam2)):
        clicked = await run_segment(resources, clip, object_id=1, frame_index=0)
        assert clicked.status == "succeeded", clicked.error_message
        job = await enqueue_propagate(resources, clip, [1], 0, FRAMES - 1)
        propagated = await wait_for_status(resources, job.id, TERMINAL, timeout_s=180)
        assert propagated.status == "succeeded", propagated.error_message

    payload = {
        "video_id": str(clip.video_id),
        "format": "png_sequence",
        "object_ids": [1],
        "frame_start": 0,
        "frame_end": FRAMES - 1,
        "start_number": 0,
        "bit_depth": 8,
    }
    export = await enqueue_job(
        resources, clip.user_id, video_id=clip.video_id, job_type="export", payload=payload
    )
    async with running_worker(resources, build_role("media")):
        done = await wait_for_status(resources, export.id, TERMINAL, timeout_s=120)
    assert done.status == "succeeded", done.error_message
    assert done.result is not None
    async with httpx.AsyncClient(timeout=30) as http:
        archive = zipfile.ZipFile(io.BytesIO((await http.get(done.result["download_url"])).content))

    async with resources.pool.acquire() as conn:
        rows = await list_masks(
            conn, clip.video_id, frame_start=0, frame_end=FRAMES - 1, object_ids=[1], limit=100
        )
    stored = await MaskLoader(resources, [clip.height, clip.width]).load(rows)
    assert [(m.frame_index, m.source) for m in stored] == [(0, "prompt")] + [
        (f, "propagation") for f in range(1, FRAMES)
    ]
    for mask in stored:
        name = f"clip_object_1.{mask.frame_index:04d}.png"
        matte = np.array(Image.open(io.BytesIO(archive.read(name))))
        assert np.array_equal(matte, rle.decode(mask.rle).astype(np.uint8) * 255), name
