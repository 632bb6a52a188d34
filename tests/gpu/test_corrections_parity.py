"""Corrections through our API path against SAM2's own video predictor, step by step, on a real
decoded clip with the same random weights (SAM2.1 tiny, 256 px, CPU fp32).

The scripted editing sequence: click frame 0; propagate; a negative click on a propagated frame;
a box on another; propagate; delete the negative click; propagate again. Ours: HTTP requests to
the API (prompts, propagations, undo), jobs through the outbox and SQS to the gpu role in this
process, masks read back from ``GET /masks``. SAM2's: ``SAM2VideoPredictor`` driven directly on
the same input tensors, with ``add_all_frames_to_correct_as_cond=True``: our contract makes every
prompted frame a keyframe that propagation never overwrites, which is that option of SAM2's (its
default re-tracks a corrected frame and loses the correction).

At every step each frame's mask must match SAM2's within 0.1 % of its pixels. Two differences are
by design and checked as such:
- Undo: deleting the last prompt of a frame gives back exactly the mask the frame had before it
  (api.md); SAM2's ``clear_all_prompts_in_frame`` shows the correction's mask until the next
  propagation.
- Spans: we recompute only the stale span of a changed keyframe; SAM2 re-runs every frame and
  lets each attend to every conditioning frame. After the undo, the frames past the box keep the
  masks they had (they are checked unchanged), while SAM2's move because they no longer attend to
  the removed keyframe. How far they are from SAM2's is printed (the closing note reports it).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

from roto.masks import rle
from roto.masks.schemas import Rle
from roto.resources import Resources
from tests.gpu.propagation_support import MAX_PIXEL_MISMATCH, video_frames
from tests.gpu.support import TERMINAL, daemon_with, ready_clip, running_daemon
from tests.worker.support import wait_for_status

pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")

pytestmark = pytest.mark.slow

FRAMES = 16
CLICK = (100.0, 96.0)  # frame 0, positive
NEGATIVE_FRAME, NEGATIVE = 6, (230.0, 60.0)
BOX_FRAME, BOX = 11, (40.0, 30.0, 250.0, 170.0)

Masks = dict[int, np.ndarray]  # frame -> object 1's mask


class Ours:
    """The API as a client drives it, for one video and object 1."""

    def __init__(
        self,
        client: AsyncTestClient,
        headers: dict[str, str],
        resources: Resources,
        video_id: uuid.UUID,
    ) -> None:
        self.client, self.headers, self.resources = client, headers, resources
        self.base = f"/v1/videos/{video_id}"

    async def _finish(self, job: dict[str, Any]) -> None:
        done = await wait_for_status(self.resources, uuid.UUID(job["id"]), TERMINAL, 300)
        assert done.status == "succeeded", (done.type, done.error_code, done.error_message)

    async def prompt(self, body: dict[str, Any]) -> str:
        response = await self.client.post(
            f"{self.base}/prompts",
            params={"wait": 0},
            json={"object_id": 1, **body},
            headers=self.headers,
        )
        assert response.status_code == 202, response.text
        await self._finish(response.json()["job"])
        prompt_id: str = response.json()["prompt"]["id"]
        return prompt_id

    async def propagate(self) -> dict[str, Any]:
        response = await self.client.post(
            f"{self.base}/propagations",
            json={"object_ids": [1], "direction": "forward"},
            headers=self.headers,
        )
        assert response.status_code == 202, response.text
        await self._finish(response.json()["job"])
        job = await self.client.get(
            f"/v1/jobs/{response.json()['job']['id']}", headers=self.headers
        )
        result: dict[str, Any] = job.json()["result"]
        return result

    async def undo(self, prompt_id: str) -> dict[str, Any]:
        response = await self.client.delete(
            f"{self.base}/prompts/{prompt_id}", params={"wait": 0}, headers=self.headers
        )
        body: dict[str, Any] = response.json()
        # 200 when the frame stopped being a keyframe; 202 while its recomputation runs.
        assert response.status_code == (200 if body["job"] is None else 202), response.text
        if body["job"] is not None:
            await self._finish(body["job"])
        return body

    async def masks(self) -> Masks:
        response = await self.client.get(
            f"{self.base}/masks", params={"object_ids": "1"}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        found: Masks = {}
        for frame in response.json()["frames"]:
            for mask in frame["masks"]:
                found[frame["frame_index"]] = rle.decode(Rle(**mask["rle"]))
        return found


class Sam2:
    """SAM2's own video predictor on the same input tensors as ours."""

    def __init__(self, model: Any, pixels: list[np.ndarray]) -> None:
        import torch

        self.sam = model.video_predictor
        with tempfile.TemporaryDirectory() as folder:
            for index, frame in enumerate(pixels):
                Image.fromarray(frame).save(Path(folder) / f"{index:05d}.jpg", quality=95)
            self.state = self.sam.init_state(folder)
        # Our frames go through the wrapper's preprocessing, not PIL's: the same input tensors.
        self.state["images"] = torch.stack([model._preprocess(frame) for frame in pixels])
        self.state["cached_features"] = {}
        self.masks: Masks = {}

    def _keep(self, frame: int, logits: Any) -> None:
        self.masks[frame] = (logits[0, 0] > 0).cpu().numpy()

    def prompt(self, frame: int, **prompt: Any) -> None:
        _, _, logits = self.sam.add_new_points_or_box(self.state, frame, 1, **prompt)
        self._keep(frame, logits)

    def clear(self, frame: int) -> None:
        _, _, logits = self.sam.clear_all_prompts_in_frame(self.state, frame, 1)
        self._keep(frame, logits)

    def propagate(self) -> None:
        for frame, _, logits in self.sam.propagate_in_video(self.state, start_frame_idx=0):
            self._keep(frame, logits)


def mismatch(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.mean(a != b))


def compare(step: str, ours: Masks, theirs: Masks, frames: list[int]) -> float:
    """The worst fraction of pixels that differ over ``frames``; printed for the record."""
    worst = max(mismatch(ours[f], theirs[f]) for f in frames)
    pixels = max(int(np.sum(ours[f] != theirs[f])) for f in frames)
    print(f"parity {step}: frames {frames[0]}..{frames[-1]}, worst {worst:.5%} ({pixels} px)")
    return worst


@pytest.fixture
def sam2_corrects_as_cond(shared_model: Any) -> Any:
    sam = shared_model.video_predictor
    before = sam.add_all_frames_to_correct_as_cond
    sam.add_all_frames_to_correct_as_cond = True
    yield
    sam.add_all_frames_to_correct_as_cond = before


async def test_corrections_match_sam2_video_predictor_step_by_step(
    client: AsyncTestClient,
    headers: dict[str, str],
    resources: Resources,
    shared_model: Any,
    tmp_path: Path,
    sam2_corrects_as_cond: Any,
) -> None:
    clip = await ready_clip(resources, video_frames(tmp_path, FRAMES))
    me = (await client.get("/v1/me", headers=headers)).json()["id"]
    await resources.pool.execute(
        "UPDATE videos SET user_id = $1 WHERE id = $2", uuid.UUID(me), clip.video_id
    )
    created = await client.post(f"/v1/videos/{clip.video_id}/objects", json={}, headers=headers)
    assert created.status_code == 201
    ours = Ours(client, headers, resources, clip.video_id)
    theirs = Sam2(shared_model, clip.pixels)
    every = list(range(FRAMES))

    async with running_daemon(resources, daemon_with(shared_model)):
        # 1. A click on frame 0.
        await ours.prompt({"frame_index": 0, "points": [CLICK], "labels": [1]})
        theirs.prompt(0, points=[CLICK], labels=[1])
        assert compare("click", await ours.masks(), theirs.masks, [0]) <= MAX_PIXEL_MISMATCH

        # 2. Propagate.
        assert (await ours.propagate())["masks_written"] == FRAMES - 1
        theirs.propagate()
        propagated = await ours.masks()
        assert compare("propagate", propagated, theirs.masks, every) <= MAX_PIXEL_MISMATCH

        # 3. A negative click on a propagated frame refines its mask (memory and the tracked
        #    mask as the previous mask), rather than starting over from the click alone.
        negative = await ours.prompt(
            {"frame_index": NEGATIVE_FRAME, "points": [NEGATIVE], "labels": [0]}
        )
        theirs.prompt(NEGATIVE_FRAME, points=[NEGATIVE], labels=[0])
        refined = await ours.masks()
        assert (
            compare("negative click", refined, theirs.masks, [NEGATIVE_FRAME]) <= MAX_PIXEL_MISMATCH
        )
        assert not np.array_equal(refined[NEGATIVE_FRAME], propagated[NEGATIVE_FRAME])

        # 4. A box on another propagated frame.
        await ours.prompt({"frame_index": BOX_FRAME, "box": list(BOX)})
        theirs.prompt(BOX_FRAME, box=list(BOX))
        assert compare("box", await ours.masks(), theirs.masks, [BOX_FRAME]) <= MAX_PIXEL_MISMATCH

        # 5. Propagate: every span next to a new keyframe is stale, so every frame is redone.
        # (The two new keyframes are passed through, not written.)
        assert (await ours.propagate())["masks_written"] == FRAMES - 3
        theirs.propagate()
        corrected = await ours.masks()
        assert compare("propagate again", corrected, theirs.masks, every) <= MAX_PIXEL_MISMATCH

        # 6. Undo the negative click: the frame is no longer a keyframe and gets back exactly the
        #    mask it had before the click. (SAM2 keeps showing the correction until it re-tracks.)
        undone = await ours.undo(negative)
        assert undone["job"] is None and undone["mask"] is None
        theirs.clear(NEGATIVE_FRAME)
        after_undo = await ours.masks()
        assert np.array_equal(after_undo[NEGATIVE_FRAME], propagated[NEGATIVE_FRAME])

        # 7. Propagate: only the span the undo made stale (between frame 0 and the box).
        assert (await ours.propagate())["masks_written"] == BOX_FRAME - 1
        theirs.propagate()
        final = await ours.masks()
        redone = list(range(1, BOX_FRAME))
        assert compare("undo, propagate", final, theirs.masks, redone) <= MAX_PIXEL_MISMATCH
        # By design: frames past the box were not stale, so they are exactly as in step 5.
        kept = list(range(BOX_FRAME + 1, FRAMES))
        for frame in kept:
            assert np.array_equal(final[frame], corrected[frame]), frame
        compare(
            "by design, kept past the box, against SAM2 re-running them", final, theirs.masks, kept
        )


async def test_undo_gives_back_exactly_what_there_was_before_the_prompt(
    client: AsyncTestClient,
    headers: dict[str, str],
    resources: Resources,
    shared_model: Any,
    tmp_path: Path,
) -> None:
    """Undoing the last prompt of a keyframe gives back the keyframe's mask from before it, and
    re-propagating the spans an undone prompt made stale gives back their masks from before."""
    clip = await ready_clip(resources, video_frames(tmp_path, 10))
    me = (await client.get("/v1/me", headers=headers)).json()["id"]
    await resources.pool.execute(
        "UPDATE videos SET user_id = $1 WHERE id = $2", uuid.UUID(me), clip.video_id
    )
    assert (
        await client.post(f"/v1/videos/{clip.video_id}/objects", json={}, headers=headers)
    ).status_code == 201
    ours = Ours(client, headers, resources, clip.video_id)
    async with running_daemon(resources, daemon_with(shared_model)):
        await ours.prompt({"frame_index": 0, "points": [CLICK], "labels": [1]})
        one_click = await ours.masks()
        second = await ours.prompt({"frame_index": 0, "points": [NEGATIVE], "labels": [0]})
        assert not np.array_equal((await ours.masks())[0], one_click[0])
        undone = await ours.undo(second)
        assert undone["job"] is not None and undone["prompt"]["id"] == second
        assert np.array_equal((await ours.masks())[0], one_click[0])

        await ours.propagate()
        before = await ours.masks()
        correction = await ours.prompt({"frame_index": 5, "points": [NEGATIVE], "labels": [0]})
        await ours.propagate()
        corrected = await ours.masks()
        assert any(not np.array_equal(corrected[f], before[f]) for f in range(1, 10))
        await ours.undo(correction)
        assert np.array_equal((await ours.masks())[5], before[5])
        await ours.propagate()
        after = await ours.masks()
    for frame in range(10):
        assert np.array_equal(after[frame], before[frame]), frame
