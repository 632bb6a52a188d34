"""Propagation benchmark: our streaming engine behind the dynamic batcher against SAM2's own
``SAM2VideoPredictor.propagate_in_video``, same model, same settings, same machine, one run.

Throughput: frames per second with 1, 2 and 4 videos propagating at once (one batcher, as in
the daemon) against the reference on the same videos one after another; both are timed from the
click to the last mask on the host, with the frames already decoded (the reference's
``init_state`` JPEG loading and ours are timed apart and printed beside). The reference is SAM2's
predictor as SAM2 builds it: eager, without the backend (TensorRT, AOT, compile) that our model
starts with, so a GPU run compares our engine with what SAM2 gives out of the box. Each engine
lives in a process of its own, as it would in production, and they take turns: two threads
running torch in one process slowed whichever was not alone by 10-20 % on this CPU.
Memory: the process's resident-set high-water mark (``ru_maxrss``), each measurement in a fresh
subprocess, for a short and a long video; also its growth over the mark after the model load.

Prints figures and asserts nothing.

    .venv/bin/python bench/propagation.py [--size tiny] [--image-size 256] [--device cpu]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from roto_gpu.batcher import Batcher  # noqa: E402
from roto_gpu.daemon import ModelSlot  # noqa: E402
from roto_gpu.model.prompts import KeyframeRequest, KeyframeState  # noqa: E402
from roto_gpu.model.sam2_model import ModelOptions, Sam2Model  # noqa: E402
from roto_gpu.tracking.propagator import Propagator, plan_legs  # noqa: E402
from roto_gpu.tracking.tracker import VideoTracker  # noqa: E402
from tests.media import frame_image  # noqa: E402

WIDTH, HEIGHT = 320, 192
PAGE = resource.getpagesize()


def build_model(args: argparse.Namespace, backend: str = "auto") -> Sam2Model:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    options = ModelOptions(
        size=args.size,
        image_size=args.image_size,
        device=args.device,
        backend=backend,
        allow_random_weights=True,
        max_batch_size=8,
    )
    return Sam2Model(options, None)


def write_video(folder: Path, frames: int, shift: int) -> Path:
    """JPEG frames ``00000.jpg``... (the reference's input format) of a moving-disc video."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(frames):
        image = Image.fromarray(frame_image(index + shift, WIDTH, HEIGHT))
        image.save(folder / f"{index:05d}.jpg", quality=92)
    return folder


CLICK = [[WIDTH * 0.2, HEIGHT / 2]]


async def click_state(batcher: Batcher, load: Any) -> KeyframeState:
    """The click's keyframe state, as the segment job makes it (the reference's
    ``add_new_points_or_box`` is inside its timing too)."""
    embedding = await batcher.submit("encode", await load(0))
    request = KeyframeRequest(embedding, points=np.array(CLICK), labels=np.array([1]))
    result = await batcher.submit("keyframe", request)
    state: KeyframeState = result.state
    return state


def run_reference(model: Sam2Model, folder: Path, frames: int) -> tuple[float, float]:
    """SAM2's predictor as its README uses it: load the video (timed apart), click, propagate.
    Returns (loading seconds, click-to-last-mask seconds)."""
    import torch

    sam = model.video_predictor
    produced = 0
    with torch.inference_mode(), model.autocast():
        started = time.perf_counter()
        state = sam.init_state(str(folder))
        synchronize(model)
        loaded = time.perf_counter()
        sam.add_new_points_or_box(state, 0, 1, points=CLICK, labels=[1])
        for _, _, logits in sam.propagate_in_video(state):
            (logits > 0).cpu().numpy()
            produced += 1
        synchronize(model)
        done = time.perf_counter()
    assert produced == frames
    return loaded - started, done - loaded


def synchronize(model: Sam2Model) -> None:
    import torch

    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)


def read_video(folder: Path, frames: int) -> list[np.ndarray]:
    """The JPEGs decoded, before the clock starts (as the reference's init_state does)."""
    decoded = []
    for index in range(frames):
        with Image.open(folder / f"{index:05d}.jpg") as image:
            decoded.append(np.array(image.convert("RGB")))
    return decoded


def loader(pixels: list[np.ndarray]) -> Any:
    async def load(index: int) -> np.ndarray:
        return pixels[index]

    return load


async def run_ours(
    tracker: VideoTracker, batcher: Batcher, pixels: list[np.ndarray], frames: int
) -> int:
    load = loader(pixels)
    run = Propagator(
        tracker,
        batcher,
        num_frames=frames,
        orig_hw=(HEIGHT, WIDTH),
        keyframes={1: {0: await click_state(batcher, load)}},
        legs=plan_legs(0, frames - 1, "forward"),
        load=load,
    )
    produced = 0
    async for _ in run.run():
        produced += 1
    assert produced == frames
    return produced


class Ours:
    """Our engine as the daemon runs it: one batcher, whose own thread builds the model and
    runs every batch (``Batcher.call``); the reference runs on the thread that built its model."""

    def __init__(self, args: argparse.Namespace) -> None:
        slot = ModelSlot()
        self.batcher = Batcher(slot.functions(), max_batch_size=8, max_wait_ms=args.max_wait_ms)
        model, _ = asyncio.run(self.batcher.call(lambda: slot.bind(build_model(args), None)))
        self.tracker = VideoTracker(model)
        self.tracker_model = model

        self.loading_s = 0.0

    def fps(self, folders: list[Path], frames: int) -> float:
        """Frames per second of all ``folders`` propagating at once through the batcher."""
        started = time.perf_counter()
        videos = [read_video(f, frames) for f in folders]
        self.loading_s = time.perf_counter() - started
        return asyncio.run(self._at_once(videos, frames))

    async def _at_once(self, videos: list[list[np.ndarray]], frames: int) -> float:
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(run_ours(self.tracker, self.batcher, v, frames) for v in videos)
        )
        synchronize(self.tracker_model)
        return sum(counts) / (time.perf_counter() - started)

    def close(self) -> None:
        asyncio.run(self.batcher.close())


class Reference:
    """SAM2's predictor, eager, on the model it built on this thread, one video after another."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.model = build_model(args, backend="eager")
        self.loading_s = 0.0

    def fps(self, folders: list[Path], frames: int) -> float:
        timings = [run_reference(self.model, f, frames) for f in folders]
        self.loading_s = sum(load for load, _ in timings)
        return len(folders) * frames / sum(run for _, run in timings)

    def close(self) -> None:
        pass


def new_engine(engine: str, args: argparse.Namespace) -> Ours | Reference:
    return Ours(args) if engine == "ours" else Reference(args)


def serve(engine: str, args: argparse.Namespace, conn: Any) -> None:
    """An engine in its own process: for each list of video folders received, propagate them
    (the reference one after another, ours at once) and send back frames per second."""
    running = new_engine(engine, args)
    while (folders := conn.recv()) is not None:
        fps = running.fps(folders, args.frames)
        conn.send((fps, running.loading_s))
    running.close()


class EngineProcess:
    """The parent's handle on one ``serve`` process."""

    def __init__(self, engine: str, args: argparse.Namespace) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(engine, args, child), daemon=True)
        self.process.start()

        self.loading_s = 0.0

    def fps(self, folders: list[Path]) -> float:
        self.conn.send(folders)
        value, self.loading_s = self.conn.recv()
        return float(value)

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(60)


def throughput(args: argparse.Namespace) -> None:
    """Each repeat times, for k = 1, 2, 4, the reference on k videos one after another and ours
    on the same k at once, back to back, so that load from elsewhere hits both alike."""
    frames = args.frames
    counts = (1, 2, 4)
    ours: dict[int, list[float]] = {k: [] for k in counts}
    ratios: dict[int, list[float]] = {k: [] for k in counts}
    reference: list[float] = []
    theirs_engine, our_engine = EngineProcess("reference", args), EngineProcess("ours", args)
    with tempfile.TemporaryDirectory() as tmp:
        folders = [write_video(Path(tmp) / f"v{i}", frames, shift=7 * i) for i in range(4)]
        # Warm both engines once (first calls allocate), then measure.
        theirs_engine.fps(folders[:1])
        our_engine.fps(folders[:1])
        for repeat in range(args.repeats):
            for k in counts:
                theirs = theirs_engine.fps(folders[:k])
                mine = our_engine.fps(folders[:k])
                reference.append(theirs)
                ours[k].append(mine)
                ratios[k].append(mine / theirs)
                print(
                    f"  repeat {repeat + 1}, {k} video(s): reference {theirs:5.2f} fps, "
                    f"ours {mine:5.2f} fps, ratio {mine / theirs:.2f} (frame loading, timed "
                    f"apart: reference {theirs_engine.loading_s:.2f} s, "
                    f"ours {our_engine.loading_s:.2f} s)",
                    flush=True,
                )
    theirs_engine.close()
    our_engine.close()
    print(f"\nthroughput, medians of {args.repeats} repeats, {frames} frames per video, 1 object:")
    print(
        f"  reference  {median(reference):6.2f} fps  "
        "(SAM2VideoPredictor.propagate_in_video, videos one after another)"
    )
    for k in counts:
        print(
            f"  ours x{k}    {median(ours[k]):6.2f} fps  "
            f"ratio to the reference beside it {median(ratios[k]):.2f} "
            f"(range {min(ratios[k]):.2f}-{max(ratios[k]):.2f})"
        )


def median(values: list[float]) -> float:
    return float(np.median(values))


class RssSampler:
    """The process's resident set, sampled every millisecond or so while entered: its peak
    there, unlike ``ru_maxrss``, leaves out the model load's transient peak."""

    def __init__(self) -> None:
        self.start = self.peak = current_rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssSampler:
        self.start = self.peak = current_rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss())

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, current_rss())


def current_rss() -> int:
    """Resident set size in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def measure_memory(args: argparse.Namespace) -> None:
    """One propagation in this process; prints its resident-set figures as JSON."""
    running = new_engine(args.engine, args)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_video(Path(tmp) / "v", args.frames, shift=0)
        with RssSampler() as rss:
            running.fps([folder], args.frames)
        running.close()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"start": rss.start, "peak": rss.peak, "maxrss": maxrss}))


def memory(args: argparse.Namespace) -> None:
    results: dict[tuple[str, int], dict[str, int]] = {}
    for engine in ("ours", "reference"):
        for frames in (args.short, args.long):
            command = [
                sys.executable, __file__, "--memory-of", engine, "--frames", str(frames),
                "--size", args.size, "--image-size", str(args.image_size),
                "--device", args.device, "--threads", str(args.threads),
            ]  # fmt: skip
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[(engine, frames)] = json.loads(out.strip().splitlines()[-1])
    mib = 1024 * 1024
    print(
        f"\npeak memory, process resident set (a fresh process each), {args.short} vs "
        f"{args.long} frames:"
    )
    for engine in ("ours", "reference"):
        short, long = results[(engine, args.short)], results[(engine, args.long)]
        grew = [r["peak"] - r["start"] for r in (short, long)]
        print(
            f"  {engine:9}  peak while propagating {short['peak'] / mib:6.0f} -> "
            f"{long['peak'] / mib:6.0f} MiB (ratio {long['peak'] / short['peak']:.2f}); "
            f"growth over the loaded model {grew[0] / mib:5.0f} -> {grew[1] / mib:5.0f} MiB; "
            f"ru_maxrss {short['maxrss'] / mib:.0f} -> {long['maxrss'] / mib:.0f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (0: default)")
    parser.add_argument("--frames", type=int, default=24, help="frames per video (throughput)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="the daemon's default")
    parser.add_argument("--short", type=int, default=60)
    parser.add_argument("--long", type=int, default=600)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-of", dest="engine", choices=("ours", "reference"))
    args = parser.parse_args()
    if args.engine:
        measure_memory(args)
        return
    print(f"SAM2.1 {args.size} at {args.image_size} px on {args.device}, random weights")
    print(f"load average at the start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    throughput(args)
    if not args.skip_memory:
        memory(args)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
