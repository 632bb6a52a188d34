"""The two engines ``bench/gpu.py`` compares: ours (the model behind the dynamic batcher, as the
daemon runs it, driven through ``run_ours``) and SAM2's own ``SAM2VideoPredictor`` (eager or
``vos_optimized``) on the same weights, with the JPEG folders its ``init_state`` reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from gpu_plan import Plan, sync  # bench/, beside this script
from PIL import Image

from roto_gpu.batcher import Batcher
from roto_gpu.daemon import ModelSlot
from roto_gpu.model.checkpoints import Checkpoint
from roto_gpu.model.options import CONFIGS, hydra_overrides
from roto_gpu.model.prompts import KeyframeRequest
from roto_gpu.model.sam2_model import ModelOptions, Sam2Model

T = TypeVar("T")


def load_checkpoint(size: str, folder: str | None) -> Checkpoint | None:
    if not folder:
        return None
    record = Path(folder) / f"sam2.1_hiera_{size}.json"
    if not record.is_file():
        return None
    known = json.loads(record.read_text())
    return Checkpoint(Path(folder) / known["file"], known["sha256"])


def build_ours(size: str, plan: Plan, args: argparse.Namespace) -> Sam2Model:
    options = ModelOptions(
        size=size,
        image_size=plan.image_size,
        device=args.device,
        backend=args.backend,
        allow_random_weights=True,
        max_batch_size=8,
        warmup=True,
        engine_dir=args.engine_dir,
    )
    return Sam2Model(options, load_checkpoint(size, args.checkpoints))


def build_reference(model: Sam2Model, vos: bool) -> Any:
    """SAM2's own predictor on the same weights: eager, or ``vos_optimized`` (torch.compile of
    its components, as SAM2 ships it)."""
    from sam2.build_sam import build_sam2_video_predictor

    predictor = build_sam2_video_predictor(
        CONFIGS[model.options.size],
        ckpt_path=None,
        device=str(model.device),
        hydra_overrides_extra=hydra_overrides(model.image_size),
        vos_optimized=vos,
    )
    predictor.load_state_dict(model.state_dict())
    return predictor.eval()


# ---- our engine ---------------------------------------------------------------------------------


class Ours:
    """The model behind one dynamic batcher, as the daemon runs it: ``build`` runs on the
    batcher's thread, as the daemon builds its model. On the CPU (tiny, 256 px, 32 frames, four
    runs each) ours propagated at 0.83-1.15x SAM2's own predictor (median 0.91) when its model
    was built on the main thread, and at 0.97-1.33x (median 1.12) built on its own."""

    def __init__(self, build: Callable[[], Sam2Model]) -> None:
        self.slot = ModelSlot()
        self.batcher = Batcher(self.slot.functions(), max_batch_size=8, max_wait_ms=5.0)
        self.model, _ = asyncio.run(self.batcher.call(lambda: self.slot.bind(build(), None)))

    def on_model_thread(self, fn: Callable[[], T]) -> T:
        """``fn``'s result, run on the thread that built and runs the model."""
        return asyncio.run(self.batcher.call(fn))

    def close(self) -> None:
        asyncio.run(self.batcher.close())


async def run_ours(
    ours: Ours, frames: Any, point: list[list[float]], keep: bool = False
) -> dict[int, np.ndarray]:
    """One forward propagation of ``frames`` from a click on frame 0; masks by frame if
    ``keep``. The one place that knows the propagation engine's API."""
    from roto_gpu.tracking.propagator import Propagator, plan_legs
    from roto_gpu.tracking.tracker import VideoTracker

    async def load(index: int) -> np.ndarray:
        return frames[index]

    # The click's keyframe state, as the segment job makes it; the tracker is seeded with it.
    embedding = await ours.batcher.submit("encode", frames[0])
    clicked = KeyframeRequest(embedding, points=np.array(point), labels=np.array([1]))
    state = (await ours.batcher.submit("keyframe", clicked)).state
    height, width = frames[0].shape[:2]
    run = Propagator(
        VideoTracker(ours.model),
        ours.batcher,
        num_frames=len(frames),
        orig_hw=(height, width),
        keyframes={1: {0: state}},
        legs=plan_legs(0, len(frames) - 1, "forward"),
        load=load,
    )
    masks: dict[int, np.ndarray] = {}
    async for frame, objects in run.run():
        if keep:
            masks[frame] = objects[1].mask
    return masks


def ours_fps(ours: Ours, videos: list[list[np.ndarray]], point: list[list[float]]) -> float:
    async def all_at_once() -> float:
        sync()
        started = time.perf_counter()
        await asyncio.gather(*(run_ours(ours, v, point) for v in videos))
        sync()
        return sum(len(v) for v in videos) / (time.perf_counter() - started)

    return asyncio.run(all_at_once())


# ---- SAM2's predictors --------------------------------------------------------------------------


def write_jpegs(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index:05d}.jpg", quality=95)
    return folder


def read_jpegs(folder: Path) -> list[np.ndarray]:
    frames = []
    for path in sorted(folder.glob("*.jpg")):
        with Image.open(path) as image:
            frames.append(np.array(image.convert("RGB")))
    return frames


def reference_run(
    predictor: Any, model: Sam2Model, folder: Path, point: list[list[float]], keep: bool = False
) -> tuple[float, float, dict[int, np.ndarray]]:
    """SAM2's README flow; returns (load seconds, propagate seconds, masks if ``keep``)."""
    masks: dict[int, np.ndarray] = {}
    with torch.inference_mode(), model.autocast():
        started = time.perf_counter()
        state = predictor.init_state(str(folder))
        sync()
        loaded = time.perf_counter()
        predictor.add_new_points_or_box(state, 0, 1, points=point, labels=[1])
        for frame, _, logits in predictor.propagate_in_video(state):
            mask = (logits[0, 0] > 0).cpu().numpy()
            if keep:
                masks[frame] = mask
        sync()
        done = time.perf_counter()
    return loaded - started, done - loaded, masks
