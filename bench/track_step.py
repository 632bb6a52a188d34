"""Propagation with the track step compiled (``roto_gpu.model.backends.track_step``: the memory
encoder and attention under ``torch.compile``, batches padded to pair buckets) against the same
engine with SAM2's eager track step, in one process on one model, the two taking turns.

Our engine as the daemon runs it (the model behind the dynamic batcher), forward from a click on
frame 0, one video and then four at once (four pairs per track step). The image encoder stays
as the model's backend has it on both sides, so the difference is the track step's. Prints the
frames per second of each side (median over ``--rounds``), their ratio, the time of the first
compiled run (the compilation) and the masks' IoU against eager. Needs a C compiler (inductor);
asserts nothing.

    .venv/bin/python bench/track_step.py --frames 16 --rounds 3                  # CPU
    .venv/bin/python bench/track_step.py --device cuda --size large --image-size 1024
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import numpy as np
from gpu_engines import Ours, build_ours, ours_fps, run_ours  # bench/, beside this script
from gpu_plan import Plan, click_point, frames_of
from gpu_sections import iou

from roto_gpu.model.backends.track_step import compile_track_step, uninstall_track_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=16, help="frames per video")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    width, height = (320, 192) if args.image_size <= 512 else (1024, 576)
    plan = Plan([args.size], args.image_size, width, height, args.frames, 0, 0, 0, [], [])
    model_args = argparse.Namespace(
        device=args.device, backend="auto", engine_dir="", checkpoints=None
    )
    ours = Ours(lambda: build_ours(args.size, plan, model_args))
    sam = ours.model.video_predictor
    uninstall_track_step(sam)  # the GPU's compile backend compiles it: start from SAM2's own
    point = click_point(plan)
    videos = [frames_of(v, args.frames, plan) for v in range(4)]
    try:
        ours_fps(ours, [videos[0][:4]], point)  # warm: the encoder's shapes, the caches
        eager_masks = asyncio.run(run_ours(ours, videos[0], point, keep=True))
        started = time.perf_counter()
        compile_track_step(sam)
        compiled_masks = asyncio.run(run_ours(ours, videos[0], point, keep=True))
        ours_fps(ours, videos, point)  # the four-pair bucket compiles
        compile_s = time.perf_counter() - started
        modules = (sam.memory_encoder, sam.memory_attention)
        compiled = [module.__dict__["forward"] for module in modules]
        fps: dict[str, dict[int, list[float]]] = {
            "eager": {1: [], 4: []},
            "compiled": {1: [], 4: []},
        }
        for _ in range(args.rounds):
            for side in ("eager", "compiled"):
                uninstall_track_step(sam)
                if side == "compiled":  # the same compiled functions again: nothing recompiles
                    for module, forward in zip(modules, compiled, strict=True):
                        module.__dict__["forward"] = forward
                for count in (1, 4):
                    fps[side][count].append(ours_fps(ours, videos[:count], point))
    finally:
        ours.close()
    ious = [iou(compiled_masks[f], eager_masks[f]) for f in sorted(eager_masks)]
    report(args, fps, compile_s, ious)


def report(
    args: argparse.Namespace, fps: dict[str, dict[int, list[float]]], compile_s: float, ious: Any
) -> None:
    print(
        f"\nSAM2.1 {args.size} at {args.image_size} px on {args.device}, {args.frames} frames "
        f"per video, {args.rounds} rounds (frames/s, median)"
    )
    print("| track step | 1 video | 4 videos at once |\n|---|---|---|")
    medians = {side: {n: statistics.median(v) for n, v in by.items()} for side, by in fps.items()}
    for side, by_count in medians.items():
        print(f"| {side} | {by_count[1]:.2f} | {by_count[4]:.2f} |")
    ratio = {n: medians["compiled"][n] / medians["eager"][n] for n in (1, 4)}
    print(f"| compiled / eager | {ratio[1]:.2f}x | {ratio[4]:.2f}x |")
    print(f"first compiled runs (compiling the 1- and 4-pair shapes): {compile_s:.1f} s")
    print(f"mask IoU, compiled against eager: mean {np.mean(ious):.4f}, min {np.min(ious):.4f}")


if __name__ == "__main__":
    main()
