"""Text and exemplar prompts end to end: ``POST /detections`` through the API, the outbox and the
interactive queue to the gpu role (on its own thread, so that ``?wait=`` is answered by it), with
SAM2 tiny (random weights, 256 px) and the concept detector (SAM 3 reduced, random weights) on
the CPU. What the API made is checked against the detector and SAM2 run directly on the same
frame with the same weights: one object per instance, its keyframe's matte the instance's mask
bit for bit, its keyframe mask what SAM2's imported-matte path renders of it."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from litestar.testing import AsyncTestClient

from roto.masks import rle
from roto.masks.schemas import Rle
from roto.resources import Resources
from roto.settings import Settings
from roto_gpu.daemon import GpuDaemon
from roto_gpu.jobs.detect import prompt_id
from roto_gpu.model.detector import DetectRequest, Instance
from roto_gpu.model.prompts import KeyframeRequest
from tests.gpu.support import (
    TERMINAL,
    Clip,
    daemon_thread,
    daemon_with,
    ready_clip,
    running_daemon,
)
from tests.worker.support import wait_for_status

pytestmark = pytest.mark.slow

FRAME = 2
# Random weights score every query about 0.25: a threshold of 0 keeps the best few of them.
FOUND = 3
BODY = {"text": "person", "frame_index": FRAME, "threshold": 0.0, "max_objects": FOUND}


async def my_clip(
    client: AsyncTestClient, headers: dict[str, str], resources: Resources, frames: list[Any]
) -> Clip:
    """A ready clip (frames as JPEGs in S3) that belongs to the caller of ``headers``."""
    clip = await ready_clip(resources, frames)
    me = uuid.UUID((await client.get("/v1/me", headers=headers)).json()["id"])
    await resources.pool.execute("UPDATE videos SET user_id = $1 WHERE id = $2", me, clip.video_id)
    clip.user_id = me
    return clip


def as_mask(encoded: dict[str, Any]) -> np.ndarray:
    return rle.decode(Rle(size=encoded["size"], counts=encoded["counts"]))


def rendered(model: Any, image: np.ndarray, instances: list[Instance]) -> list[np.ndarray]:
    """The instances' masks as SAM2's imported-matte path (``add_new_mask``) renders them."""
    (embedding,) = model.encode_images([image])
    results = model.decode_keyframes([KeyframeRequest(embedding, matte=i.mask) for i in instances])
    return [result.mask for result in results]


async def detect(
    client: AsyncTestClient, headers: dict[str, str], clip: Clip, body: dict[str, Any], wait: int
) -> Any:
    return await client.post(
        f"/v1/videos/{clip.video_id}/detections",
        params={"wait": wait},
        json=body,
        headers=headers,
    )


async def test_text_finds_instances_that_become_objects_with_their_mattes_then_tracked(
    client: AsyncTestClient,
    headers: dict[str, str],
    resources: Resources,
    settings: Settings,
    shared_model: Any,
    shared_detector: Any,
    frames: list[np.ndarray],
) -> None:
    clip = await my_clip(client, headers, resources, frames)
    body = {
        "text": " person ",
        "frame_index": FRAME,
        "threshold": 0.0,
        "max_objects": FOUND,
        "propagate": True,
    }
    base = f"/v1/videos/{clip.video_id}"
    with daemon_thread(settings, daemon_with(shared_model, shared_detector)):
        response = await detect(client, headers, clip, body, wait=30)
        assert response.status_code == 200, response.text
        answer = response.json()
        listed = await client.get(
            "/v1/jobs", params={"video_id": str(clip.video_id)}, headers=headers
        )
        propagations = [job for job in listed.json()["items"] if job["type"] == "propagate"]
        assert len(propagations) == 1, listed.json()
        tracked = await wait_for_status(
            resources, uuid.UUID(propagations[0]["id"]), TERMINAL, timeout_s=300
        )
    assert tracked.status == "succeeded", (tracked.error_code, tracked.error_message)

    # The detector and SAM2, run directly on the frame the daemon read, with the same weights.
    image = clip.pixels[FRAME]
    (instances,) = shared_detector.detect([DetectRequest(image, "person", (), 0.0, FOUND)])
    expected = rendered(shared_model, image, instances)
    assert len(instances) == FOUND

    job = answer["job"]
    assert (job["type"], job["status"]) == ("detect", "succeeded")
    assert job["result"] == {"object_ids": [1, 2, 3]}
    assert [(o["id"], o["name"], o["category"]) for o in answer["objects"]] == [
        (1, "person 1", "person"),
        (2, "person 2", "person"),
        (3, "person 3", "person"),
    ]
    masks = {mask["object_id"]: mask for mask in answer["masks"]}
    assert sorted(masks) == [1, 2, 3]
    for object_id, instance, mask in zip((1, 2, 3), instances, expected, strict=True):
        got = masks[object_id]
        assert (got["frame_index"], got["source"]) == (FRAME, "prompt")
        assert got["rle"]["size"] == [clip.height, clip.width]
        assert np.array_equal(as_mask(got["rle"]), mask)
        # The keyframe holds the instance's mask itself, as an imported matte.
        prompts = await client.get(
            f"{base}/prompts", params={"object_id": object_id}, headers=headers
        )
        (record,) = prompts.json()["items"]
        assert (record["frame_index"], record["mask"], record["points"]) == (FRAME, True, [])
        assert record["id"] == str(prompt_id(uuid.UUID(job["id"]), object_id - 1))
        stored = await resources.pool.fetchval(
            "SELECT mask FROM prompts WHERE id = $1", uuid.UUID(record["id"])
        )
        assert np.array_equal(as_mask(stored), instance.mask)
    # Nothing is left set aside once the objects exist.
    assert await resources.pool.fetchval("SELECT count(*) FROM detection_object_ids") == 0

    # Tracked through the whole clip, both ways; the keyframes keep their masks.
    every = await client.get(f"{base}/masks", headers=headers)
    assert every.status_code == 200
    by_frame = {f["frame_index"]: f["masks"] for f in every.json()["frames"]}
    assert sorted(by_frame) == list(range(len(frames)))
    for frame, frame_masks in by_frame.items():
        assert [m["object_id"] for m in frame_masks] == [1, 2, 3]
        sources = {m["source"] for m in frame_masks}
        assert sources == ({"prompt"} if frame == FRAME else {"propagation"})
    assert {m["object_id"]: m["rle"] for m in by_frame[FRAME]} == {
        o: masks[o]["rle"] for o in (1, 2, 3)
    }


async def test_exemplar_boxes_alone_make_objects_of_the_default_category(
    client: AsyncTestClient,
    headers: dict[str, str],
    resources: Resources,
    settings: Settings,
    shared_model: Any,
    shared_detector: Any,
    frames: list[np.ndarray],
) -> None:
    clip = await my_clip(client, headers, resources, frames)
    boxes = [[40.0, 30.0, 200.0, 150.0], [220.0, 20.0, 300.0, 90.0]]
    body = {"exemplar_boxes": boxes, "frame_index": 0, "threshold": 0.0, "max_objects": 2}
    with daemon_thread(settings, daemon_with(shared_model, shared_detector)):
        response = await detect(client, headers, clip, body, wait=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    exemplars = tuple((x0, y0, x1, y1) for x0, y0, x1, y1 in boxes)
    request = DetectRequest(clip.pixels[0], None, exemplars, 0.0, 2)
    (instances,) = shared_detector.detect([request])
    expected = rendered(shared_model, clip.pixels[0], instances)
    assert [(o["name"], o["category"]) for o in answer["objects"]] == [
        ("object 1", "object"),
        ("object 2", "object"),
    ]
    got = sorted(answer["masks"], key=lambda m: m["object_id"])
    assert [np.array_equal(as_mask(m["rle"]), e) for m, e in zip(got, expected, strict=True)] == [
        True,
        True,
    ]


async def test_no_match_is_a_success_with_no_objects(
    client: AsyncTestClient,
    headers: dict[str, str],
    resources: Resources,
    settings: Settings,
    shared_model: Any,
    shared_detector: Any,
    frames: list[np.ndarray],
) -> None:
    clip = await my_clip(client, headers, resources, frames)
    # Random weights never score 0.5 (the default threshold).
    body = {"text": "yellow school bus", "frame_index": 1, "propagate": True}
    with daemon_thread(settings, daemon_with(shared_model, shared_detector)):
        response = await detect(client, headers, clip, body, wait=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["job"]["result"] == {"object_ids": []}
    assert (answer["objects"], answer["masks"]) == ([], [])
    (instances,) = shared_detector.detect(
        [DetectRequest(clip.pixels[1], "yellow school bus", (), 0.5, 20)]
    )
    assert instances == []
    # Nothing to track: no propagation follows, and the frame counts once against the quota.
    types = await resources.pool.fetch("SELECT type FROM jobs WHERE video_id = $1", clip.video_id)
    assert [r["type"] for r in types] == ["detect"]
    usage = await client.get("/v1/billing/usage", headers=headers)
    assert usage.json()["frames_processed"] == 1


class FailsOnce:
    """SAM2 whose first encoder pass fails: the detect job has found its instances and set
    their object ids aside by then, and the runtime hands the message back for a redelivery."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def encode_images(self, images: list[np.ndarray]) -> Any:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the first encoder pass fails")
        return self._model.encode_images(images)


async def test_a_redelivered_detection_makes_its_objects_once_under_the_ids_it_set_aside(
    client: AsyncTestClient,
    headers: dict[str, str],
    resources: Resources,
    shared_model: Any,
    shared_detector: Any,
    frames: list[np.ndarray],
) -> None:
    clip = await my_clip(client, headers, resources, frames)
    body = {"text": "person", "frame_index": FRAME, "threshold": 0.0, "max_objects": 2}
    model = FailsOnce(shared_model)
    async with running_daemon(resources, daemon_with(model, shared_detector)):
        response = await detect(client, headers, clip, body, wait=0)
        assert response.status_code == 202, response.text
        job_id = uuid.UUID(response.json()["job"]["id"])
        # The first delivery fails after setting ids aside; the retry comes after its backoff.
        done = await wait_for_status(resources, job_id, TERMINAL, timeout_s=120)
    assert model.failed
    assert (done.status, done.attempts) == ("succeeded", 2), done.error_message
    assert done.result == {"object_ids": [1, 2]}
    rows = await resources.pool.fetch(
        "SELECT object_id, name FROM objects WHERE video_id = $1 ORDER BY object_id",
        clip.video_id,
    )
    assert [(r["object_id"], r["name"]) for r in rows] == [(1, "person 1"), (2, "person 2")]
    # No id was taken twice: the next object the video gets is 3.
    next_id = await resources.pool.fetchval(
        "SELECT next_object_id FROM videos WHERE id = $1", clip.video_id
    )
    assert next_id == 3
    prompts = await resources.pool.fetch(
        "SELECT id, object_id FROM prompts WHERE video_id = $1 ORDER BY object_id", clip.video_id
    )
    assert [(r["id"], r["object_id"]) for r in prompts] == [
        (prompt_id(job_id, 0), 1),
        (prompt_id(job_id, 1), 2),
    ]
    assert await resources.pool.fetchval("SELECT count(*) FROM detection_object_ids") == 0


async def test_a_daemon_without_a_detector_fails_the_job_and_answers_202_with_the_error(
    client: AsyncTestClient,
    headers: dict[str, str],
    resources: Resources,
    settings: Settings,
    shared_model: Any,
    frames: list[np.ndarray],
) -> None:
    clip = await my_clip(client, headers, resources, frames)
    # No ROTO_DETECTOR_CHECKPOINT and no random weights allowed: the daemon has no detector.
    daemon = GpuDaemon(
        model_factory=lambda settings: shared_model, detector_factory=lambda settings, _: None
    )
    with daemon_thread(settings, daemon):
        response = await detect(client, headers, clip, {**BODY, "frame_index": 0}, wait=30)
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    assert (job["status"], job["error"]["code"]) == ("failed", "detector_unavailable")
    assert "ROTO_DETECTOR_CHECKPOINT" in job["error"]["message"]
    assert (
        await resources.pool.fetchval(
            "SELECT count(*) FROM objects WHERE video_id = $1", clip.video_id
        )
        == 0
    )
