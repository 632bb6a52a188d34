"""The measurements of ``bench/gpu.py``, one function per section, each writing its figures into
``out``: propagation (ours against SAM2's predictors, with mask IoU), clicks, GPU memory, and
image encoder timings per backend.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gpu_engines import (  # bench/, beside this script
    Ours,
    build_reference,
    ours_fps,
    read_jpegs,
    reference_run,
    run_ours,
    write_jpegs,
)
from gpu_plan import Budget, LazyVideo, Plan, click_point, frames_of, percentile, sync

from roto_gpu.batcher import Priority
from roto_gpu.model.backends.selection import BUILDERS, uninstall_all
from roto_gpu.model.prompts import KeyframeRequest
from roto_gpu.model.sam2_model import Sam2Model


def propagation(
    model: Sam2Model, ours: Ours, plan: Plan, budget: Budget, tmp: Path, out: dict[str, Any]
) -> None:
    point = click_point(plan)
    folders = [write_jpegs(tmp / f"v{v}", frames_of(v, plan.frames, plan)) for v in range(4)]
    # Both engines see the same pixels: the JPEGs that SAM2's predictor reads, decoded.
    videos = [read_jpegs(folder) for folder in folders]
    warm = [frames_of(9, min(8, plan.frames), plan)]
    ours_fps(ours, warm, point)
    result: dict[str, Any] = {
        "frames_per_video": plan.frames,
        "ours_1": ours_fps(ours, videos[:1], point),
        "ours_4": ours_fps(ours, videos, point),
    }
    ours_masks = asyncio.run(run_ours(ours, videos[0], point, keep=True))
    for name in plan.references:
        if budget.left() < 60:
            result[f"{name}_skipped"] = f"budget: {budget.left():.0f} s left"
            continue
        predictor = build_reference(model, vos=name == "vos")
        reference_run(predictor, model, write_jpegs(tmp / "warm", warm[0]), point)  # compiles
        loads, times, masks = [], [], {}
        for v, folder in enumerate(folders):
            load_s, run_s, kept = reference_run(predictor, model, folder, point, keep=v == 0)
            loads.append(load_s)
            times.append(run_s)
            masks = masks or kept
        result[f"{name}_1"] = plan.frames / times[0]
        result[f"{name}_4_sequential"] = 4 * plan.frames / sum(times)
        result[f"{name}_frame_loading_s"] = sum(loads)
        if name == "eager":
            ious = [iou(ours_masks[f], masks[f]) for f in sorted(masks)]
            result["iou_vs_eager_mean"] = float(np.mean(ious))
            result["iou_vs_eager_min"] = float(np.min(ious))
        del predictor
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    for name in plan.references:
        if f"{name}_1" in result:
            result[f"ratio_1_vs_{name}"] = result["ours_1"] / result[f"{name}_1"]
            result[f"ratio_4_vs_{name}"] = result["ours_4"] / result[f"{name}_4_sequential"]
    out["propagation"] = result


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def clicks(model: Sam2Model, ours: Ours, plan: Plan, out: dict[str, Any]) -> None:
    point = np.array(click_point(plan))
    frame = frames_of(3, 1, plan)[0]

    async def one(cached: Any) -> float:
        started = time.perf_counter()
        embedding = cached
        if embedding is None:
            embedding = await ours.batcher.submit("encode", frame, priority=Priority.INTERACTIVE)
        request = KeyframeRequest(embedding, points=point, labels=np.array([1]))
        await ours.batcher.submit("keyframe", request, priority=Priority.INTERACTIVE)
        return (time.perf_counter() - started) * 1000

    async def series(cached: Any) -> list[float]:
        times = []
        for _ in range(plan.clicks):
            times.append(await one(cached))
            await asyncio.sleep(0.01)  # a person does not click back to back
        return times

    async def measure() -> dict[str, Any]:
        embedding = await ours.batcher.submit("encode", frame)
        figures: dict[str, Any] = {}
        for load in ("idle", "4_propagations"):
            background: list[asyncio.Task[Any]] = []
            if load != "idle":
                videos = [LazyVideo(20 + v, 100_000, plan) for v in range(4)]
                point_list = click_point(plan)
                background = [asyncio.create_task(run_ours(ours, v, point_list)) for v in videos]
                await asyncio.sleep(0.5)  # let them reach their stride
            for name, cached in (("cached", embedding), ("uncached", None)):
                times = await series(cached)
                figures[f"{name}_{load}_p50_ms"] = percentile(times, 50)
                figures[f"{name}_{load}_p99_ms"] = percentile(times, 99)
            for task in background:
                task.cancel()
            for task in background:
                with suppress(asyncio.CancelledError):
                    await task
        return figures

    out["clicks"] = {"count": plan.clicks, **asyncio.run(measure())}


def memory(ours: Ours, plan: Plan, out: dict[str, Any]) -> None:
    point = click_point(plan)
    figures: dict[str, Any] = {}
    for frames in (plan.short, plan.long):
        video = LazyVideo(30, frames, plan)
        if torch.cuda.is_available():
            sync()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        asyncio.run(run_ours(ours, video, point))
        if torch.cuda.is_available():
            sync()
            figures[f"peak_mib_{frames}"] = torch.cuda.max_memory_allocated() / 2**20
            figures[f"growth_mib_{frames}"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    if torch.cuda.is_available():
        figures["ratio_long_short"] = (
            figures[f"peak_mib_{plan.long}"] / figures[f"peak_mib_{plan.short}"]
        )
    else:
        figures["note"] = "no CUDA: GPU memory not measured (the runs were made)"
    out["memory"] = figures


def encoder(model: Sam2Model, plan: Plan, budget: Budget, out: dict[str, Any]) -> None:
    """Encoder ms at batch 1 and 8 for each backend that builds here; restores the backend
    the model started with."""
    sam = model.video_predictor
    context = model._backend_context()
    started_with = model.backend.backend
    figures: dict[str, Any] = {}
    for name in plan.backends:
        if budget.left() < 45:
            figures[name] = f"skipped: budget ({budget.left():.0f} s left)"
            continue
        uninstall_all(sam)
        if name != "eager":
            try:
                BUILDERS[name](context)
            except Exception as exc:
                figures[name] = f"unavailable: {type(exc).__name__}: {exc}"[:300]
                continue
        figures[name] = {f"batch_{b}_ms": encoder_ms(model, b) for b in (1, 8)}
    uninstall_all(sam)
    if started_with != "eager":
        BUILDERS[started_with](context)
    out["encoder"] = figures


def encoder_ms(model: Sam2Model, batch: int, repeats: int = 5) -> float:
    pixels = torch.randn(batch, 3, model.image_size, model.image_size, device=model.device)
    encoder = model.video_predictor.image_encoder
    with torch.inference_mode(), model.autocast():
        encoder(pixels)  # first call of this shape
        sync()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            encoder(pixels)
            sync()
            times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))
