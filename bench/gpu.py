"""GPU benchmark, model and batcher level (no API stack): what issue 15 asks the GPU path to show,
measured in one run, for SAM2.1 tiny and large, within a time budget (8 minutes by default on
one H100/H200).

Per model size:
- propagation frames/s, 1 video and 4 at once through our engine (Propagator + dynamic batcher,
  the backend chosen at start), against SAM2's own ``SAM2VideoPredictor`` (eager) and its
  ``vos_optimized`` predictor, the references on the same videos one after another; frames are
  decoded before the clock starts for everyone (SAM2's ``init_state`` loading is timed apart);
- mask IoU of our propagation against eager ``SAM2VideoPredictor`` on the same video;
- click latency p50/p99, cached (decode) and uncached (encode + decode), idle and while four
  propagations run;
- GPU peak memory of one propagation at 60 and at 600 frames;
- image encoder ms at batch 1 and 8 for each backend (eager, compile, aot, tensorrt) that builds.

A section that the remaining budget cannot hold is skipped and says so. Writes JSON and prints a
Markdown table.

    python bench/gpu.py                                   # on a GPU machine
    python bench/gpu.py --smoke                           # tiny, 256 px, a few frames, any CPU
    python bench/gpu.py --checkpoints .roto/models        # real weights (make weights MODEL=...)

The propagation engine is used through ``run_ours`` only: if its API changes, adapt that one
function.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from roto_gpu.batcher import Batcher, Priority  # noqa: E402
from roto_gpu.daemon import ModelSlot  # noqa: E402
from roto_gpu.model.backends.graphs import uninstall  # noqa: E402
from roto_gpu.model.backends.selection import BUILDERS  # noqa: E402
from roto_gpu.model.checkpoints import Checkpoint  # noqa: E402
from roto_gpu.model.options import CONFIGS, hydra_overrides  # noqa: E402
from roto_gpu.model.prompts import KeyframeRequest  # noqa: E402
from roto_gpu.model.sam2_model import ModelOptions, Sam2Model  # noqa: E402
from tests.media import frame_image  # noqa: E402

BUDGET_S = 480.0
SIZE_SHARE = {"tiny": 0.35, "large": 0.65}


@dataclass
class Plan:
    sizes: list[str]
    image_size: int
    width: int
    height: int
    frames: int  # per video, throughput
    short: int  # memory: short and long video
    long: int
    clicks: int
    backends: list[str]
    references: list[str]  # eager, vos


def plan_for(args: argparse.Namespace, cuda: bool) -> Plan:
    if args.smoke:
        return Plan(["tiny"], 256, 320, 192, 6, 6, 24, 5, ["eager"], ["eager"])
    refs = ["eager", "vos"] if cuda else ["eager"]
    return Plan(
        args.sizes.split(","),
        args.image_size,
        1024,
        576,
        args.frames,
        60,
        600,
        args.clicks,
        args.backends.split(","),
        refs,
    )


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def frames_of(video: int, count: int, plan: Plan) -> list[np.ndarray]:
    return [frame_image(i + 7 * video, plan.width, plan.height) for i in range(count)]


class LazyVideo:
    """Frames made when asked for: long videos without holding them all in memory."""

    def __init__(self, video: int, count: int, plan: Plan) -> None:
        self.video, self.count, self.plan = video, count, plan

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> np.ndarray:
        return frame_image(index + 7 * self.video, self.plan.width, self.plan.height)


def click_point(plan: Plan) -> list[list[float]]:
    # The disc of frame_image starts at 20 % of the width, mid-height.
    return [[plan.width * 0.2, plan.height / 2]]


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
    """The model behind one dynamic batcher, as the daemon runs it."""

    def __init__(self, model: Sam2Model) -> None:
        self.slot = ModelSlot()
        self.batcher = Batcher(self.slot.functions(), max_batch_size=8, max_wait_ms=5.0)
        self.model, _ = asyncio.run(self.batcher.call(lambda: self.slot.bind(model, None)))

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


# ---- sections -----------------------------------------------------------------------------------


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
        uninstall(sam.image_encoder, "forward")
        uninstall(sam.sam_mask_decoder, "predict_masks")
        if name != "eager":
            try:
                BUILDERS[name](context)
            except Exception as exc:
                figures[name] = f"unavailable: {type(exc).__name__}: {exc}"[:300]
                continue
        figures[name] = {f"batch_{b}_ms": encoder_ms(model, b) for b in (1, 8)}
    uninstall(sam.image_encoder, "forward")
    uninstall(sam.sam_mask_decoder, "predict_masks")
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


# ---- the run ------------------------------------------------------------------------------------


def run_size(size: str, plan: Plan, args: argparse.Namespace, budget: Budget) -> dict[str, Any]:
    out: dict[str, Any] = {}
    started = time.monotonic()
    model = build_ours(size, plan, args)
    out["model"] = {k: v for k, v in model.info().items() if k != "backend_graphs"}
    out["model"]["build_s"] = time.monotonic() - started
    ours = Ours(model)
    sections: list[tuple[str, float, Callable[[], None]]] = []
    with tempfile.TemporaryDirectory(prefix="roto-bench-") as folder:
        tmp = Path(folder)
        sections = [
            ("propagation", 30, lambda: propagation(model, ours, plan, budget, tmp, out)),
            ("clicks", 10, lambda: clicks(model, ours, plan, out)),
            ("memory", 20, lambda: memory(ours, plan, out)),
            ("encoder", 20, lambda: encoder(model, plan, budget, out)),
        ]
        for name, needs, section in sections:
            if budget.left() < needs:
                out[name] = f"skipped: budget ({budget.left():.0f} s left)"
                continue
            began = time.monotonic()
            section()
            print(f"  {size} {name}: {time.monotonic() - began:.1f} s", flush=True)
    ours.close()
    return out


def table(results: dict[str, Any]) -> str:
    def fmt(value: Any, digits: int = 1) -> str:
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return "—" if value is None else str(value)

    lines = ["| figure | " + " | ".join(results["sizes"]) + " |"]
    lines.append("|---" * (len(results["sizes"]) + 1) + "|")
    rows: list[tuple[str, Callable[[dict[str, Any]], Any], int]] = []

    def get(*path: str) -> Callable[[dict[str, Any]], Any]:
        def pick(data: dict[str, Any]) -> Any:
            for key in path:
                if not isinstance(data, dict) or key not in data:
                    return None
                data = data[key]
            return data

        return pick

    rows += [
        (
            "backend (dtype)",
            lambda d: f"{get('model', 'backend')(d)} ({get('model', 'dtype')(d)})",
            0,
        ),
        ("propagation fps, ours, 1 video", get("propagation", "ours_1"), 1),
        ("propagation fps, ours, 4 videos at once", get("propagation", "ours_4"), 1),
        ("fps, SAM2VideoPredictor eager, 1 video", get("propagation", "eager_1"), 1),
        ("fps, eager, 4 videos one after another", get("propagation", "eager_4_sequential"), 1),
        ("fps, vos_optimized, 1 video", get("propagation", "vos_1"), 1),
        ("fps, vos_optimized, 4 one after another", get("propagation", "vos_4_sequential"), 1),
        ("ratio ours/eager, 1 video (target ≥ 1.5)", get("propagation", "ratio_1_vs_eager"), 2),
        ("ratio ours/vos, 1 video (target ≥ 0.9)", get("propagation", "ratio_1_vs_vos"), 2),
        ("ratio ours x4/vos sequential (target ≥ 1.2)", get("propagation", "ratio_4_vs_vos"), 2),
        ("mask IoU vs eager, mean (target ≥ 0.99)", get("propagation", "iou_vs_eager_mean"), 3),
        ("mask IoU vs eager, min", get("propagation", "iou_vs_eager_min"), 3),
        ("click cached p50 / p99 ms, idle", lambda d: pair(d, "cached_idle"), 0),
        ("click uncached p50 / p99 ms, idle", lambda d: pair(d, "uncached_idle"), 0),
        (
            "click cached p50 / p99 ms, 4 propagations",
            lambda d: pair(d, "cached_4_propagations"),
            0,
        ),
        (
            "click uncached p50 / p99 ms, 4 propagations",
            lambda d: pair(d, "uncached_4_propagations"),
            0,
        ),
        ("GPU peak MiB, 600/60 frames (target ≤ 1.1)", get("memory", "ratio_long_short"), 2),
    ]
    for backend in ("eager", "compile", "aot", "tensorrt"):
        for batch in (1, 8):
            rows.append((f"image encoder ms, {backend}, batch {batch}", enc(backend, batch), 1))
    for label, pick, digits in rows:
        cells = [fmt(pick(results["results"][size]), digits) for size in results["sizes"]]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pair(data: dict[str, Any], name: str) -> str | None:
    figures = data.get("clicks")
    if not isinstance(figures, dict) or f"{name}_p50_ms" not in figures:
        return None
    return f"{figures[f'{name}_p50_ms']:.1f} / {figures[f'{name}_p99_ms']:.1f}"


def enc(backend: str, batch: int) -> Callable[[dict[str, Any]], Any]:
    def pick(data: dict[str, Any]) -> Any:
        figures = data.get("encoder")
        if not isinstance(figures, dict):
            return None
        value = figures.get(backend)
        if isinstance(value, dict):
            return value.get(f"batch_{batch}_ms")
        return None if value is None else str(value).split(":")[0]

    return pick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny, 256 px, a few frames (CPU)")
    parser.add_argument("--sizes", default="tiny,large")
    parser.add_argument("--image-size", type=int, default=1024)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", default="auto", help="our engine's ROTO_MODEL_BACKEND")
    parser.add_argument("--backends", default="eager,compile,aot,tensorrt")
    parser.add_argument("--frames", type=int, default=60, help="frames per video (throughput)")
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--budget-s", type=float, default=BUDGET_S)
    parser.add_argument("--checkpoints", help="folder of `make weights` files (else random)")
    parser.add_argument("--engine-dir", default=str(REPO / "bench-out" / "engines"))
    parser.add_argument("--out", default=str(REPO / "bench-out" / "gpu.json"))
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    cuda = torch.cuda.is_available() and args.device != "cpu"
    if not cuda:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    plan = plan_for(args, cuda)
    budget = Budget(args.budget_s)
    started = time.monotonic()
    results: dict[str, Any] = {}
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    print(f"SAM2.1 {', '.join(plan.sizes)} at {plan.image_size} px on {device}", flush=True)
    for number, size in enumerate(plan.sizes):
        # Each size gets its share of what is left, so time one did not use goes to the next.
        shares = [SIZE_SHARE.get(s, 0.5) for s in plan.sizes[number:]]
        results[size] = run_size(size, plan, args, Budget(budget.left() * shares[0] / sum(shares)))
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    report = {
        "device": device,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "smoke": args.smoke,
        "image_size": plan.image_size,
        "sizes": plan.sizes,
        "elapsed_s": time.monotonic() - started,
        "results": results,
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(report))
    print(f"\n{report['elapsed_s']:.0f} s; JSON in {path}")


if __name__ == "__main__":
    main()
