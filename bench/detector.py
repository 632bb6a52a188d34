"""The concept detector on this machine: time per frame of SAM 3's image model at the size the
tests and ``make run`` build it on a CPU (reduced config, random weights, 168 px), for a text
prompt and for exemplar boxes, on a test-sized frame and on a 1080p one (the mask resizing to
the source grows with it); the detect job's model work for one frame (detection, one encoder
pass, a matte decode per instance); and the GPU daemon's resident memory (VmRSS, VmHWM from
/proc/self/status) after its imports, with SAM2 loaded, and with both models loaded.

    .venv/bin/python bench/detector.py --runs 20 --threads 2
    .venv/bin/python bench/detector.py --daemon --sam2-size 512

With ``--sam2-size 512`` SAM2 is built as ``make run`` builds it on a CPU; the default 256 is
the tests'. ``--daemon`` measures the real daemon instead: it starts PostgreSQL, Redis and moto
(as the tests do), then ``python -m roto.worker --role gpu`` with random weights on the CPU, and
reads that process's VmRSS and VmHWM once it serves (both models loaded) and after a detect job
with ``propagate`` (3 objects tracked through 8 frames) went through it. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "gpu"))
sys.path.insert(0, str(REPO))  # tests.worker.support, for --daemon


def memory(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM of a process (this one by default), in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) // 1024
    return found


def frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    image[height // 4 : height // 2, width // 4 : width // 2] = (200, 40, 40)
    return image


def timed(runs: int, call: Any) -> tuple[float, float]:
    """(median, worst) milliseconds of ``runs`` calls after one warm-up call."""
    call()
    laps = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        laps.append((time.perf_counter() - started) * 1000)
    return statistics.median(laps), max(laps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sam2-size", type=int, default=256)
    parser.add_argument("--daemon", action="store_true", help="measure the real daemon process")
    args = parser.parse_args()
    if args.daemon:
        daemon_memory(args.sam2_size)
        return

    import torch

    torch.set_num_threads(args.threads)
    from roto_gpu.model.detector import DetectRequest, random_detector
    from roto_gpu.model.prompts import KeyframeRequest
    from roto_gpu.model.sam2_model import ModelOptions, Sam2Model

    print(f"memory after imports: {memory()}")
    started = time.perf_counter()
    options = ModelOptions(
        image_size=args.sam2_size, device="cpu", allow_random_weights=True, max_batch_size=4
    )
    sam2 = Sam2Model(options, None)
    print(f"SAM2 tiny at {args.sam2_size} px built in {time.perf_counter() - started:.2f} s")
    print(f"memory with SAM2: {memory()}")
    started = time.perf_counter()
    detector = random_detector(torch.device("cpu"), torch.float32, seed=0)
    print(f"detector built in {time.perf_counter() - started:.2f} s: {detector.info()}")
    print(f"memory with SAM2 and the detector: {memory()}")

    print(f"detector per frame ({args.runs} runs, {args.threads} threads), median / worst ms:")
    for height, width in ((192, 320), (1080, 1920)):
        image = frame(height, width)
        cases = {
            "text, threshold 0.5 (no instance)": DetectRequest(image, "person", (), 0.5, 20),
            "text, threshold 0, 3 instances": DetectRequest(image, "person", (), 0.0, 3),
            "text, threshold 0, 20 instances": DetectRequest(image, "person", (), 0.0, 20),
            "2 exemplar boxes, 3 instances": DetectRequest(
                image, None, ((10.0, 10.0, 90.0, 90.0), (100.0, 20.0, 160.0, 80.0)), 0.0, 3
            ),
        }
        for name, request in cases.items():
            median, worst = timed(args.runs, lambda r=request: detector.detect([r]))
            print(f"  {width}x{height} {name}: {median:.1f} / {worst:.1f}")

    image = frame(192, 320)

    def job_model_work() -> None:
        (instances,) = detector.detect([DetectRequest(image, "person", (), 0.0, 3)])
        (embedding,) = sam2.encode_images([image])
        sam2.decode_keyframes([KeyframeRequest(embedding, matte=i.mask) for i in instances])

    median, worst = timed(args.runs, job_model_work)
    print(
        f"a detect job's model work at 320x192, 3 instances (detect + SAM2 encode + 3 matte "
        f"decodes): {median:.1f} / {worst:.1f} ms"
    )
    print(f"memory after the runs: {memory()}")


def daemon_memory(sam2_size: int) -> None:
    from bench_services import bench_settings, local_services  # bench/, beside this script

    from roto.devstack.services import LOCAL_AWS_ENV
    from tests.worker.support import settings_env

    proc = None
    with local_services("detector", postgres=True, redis=True) as services:
        root = services.root
        try:
            settings = bench_settings(
                services,
                data_dir=str(root / "data"),
                model_device="cpu",
                model_allow_random_weights=True,
                model_image_size=sam2_size,
                worker_wait_time_s=1,
            )
            video_id, user_id = asyncio.run(prepare(settings))
            env = {k: v for k, v in os.environ.items() if not k.startswith("ROTO_")}
            env.update(LOCAL_AWS_ENV)
            env.update(settings_env(settings))
            env["PYTHONPATH"] = f"{REPO / 'src'}:{REPO / 'gpu'}:{REPO}"
            with (root / "gpu.log").open("ab") as log_file:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "roto.worker", "--role", "gpu"],
                    env=env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            asyncio.run(wait_serving(settings))
            print(f"daemon (SAM2 tiny {sam2_size} px + detector, both loaded): {memory(proc.pid)}")
            seconds = asyncio.run(run_detection(settings, video_id, user_id))
            print(f"after a detect job with propagate ({seconds:.1f} s): {memory(proc.pid)}")
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)


async def prepare(settings: Any) -> tuple[uuid.UUID, uuid.UUID]:
    """A ready 320x192 video of 8 frames, its JPEGs in S3."""
    import asyncpg
    from PIL import Image

    from roto import aws
    from roto.media.frames import encode_jpeg
    from roto.videos.storage import frame_key, source_key

    video_id, user_id = uuid.uuid4(), uuid.uuid4()
    async with AsyncExitStack() as stack:
        s3, sqs = await aws.open_clients(settings, stack)
        await aws.ensure_bucket(s3, settings)
        await aws.ensure_queues(sqs, settings)
        for index in range(8):
            data = encode_jpeg(Image.fromarray(frame(192, 320, seed=index)), 92)
            await s3.put_object(
                Bucket=settings.s3_bucket, Key=frame_key(video_id, index), Body=data
            )
    conn = await asyncpg.connect(settings.database_url)
    await conn.execute(
        "INSERT INTO users (id, email, password_hash) VALUES ($1, 'bench@example.com', 'x')",
        user_id,
    )
    await conn.execute(
        "INSERT INTO videos (id, user_id, filename, content_type, size_bytes, status, source_key, "
        "width, height, fps, frame_count, duration_s, codec) VALUES "
        "($1, $2, 'b.mp4', 'video/mp4', 1000, 'ready', $3, 320, 192, 24, 8, 0.33, 'h264')",
        video_id,
        user_id,
        source_key(video_id),
    )
    await conn.close()
    return video_id, user_id


async def wait_serving(settings: Any) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(settings.redis_url)
    try:
        for _ in range(1200):
            if await client.get("roto:model:info") is not None:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("the daemon did not start serving")
    finally:
        await client.aclose()


async def run_detection(settings: Any, video_id: uuid.UUID, user_id: uuid.UUID) -> float:
    """A detect job with ``propagate``, queued as the API queues it; seconds until both ended."""
    from roto.jobs import outbox
    from roto.jobs.contracts import DETECT, DetectPayload
    from roto.resources import open_resources

    payload = DetectPayload(video_id, 2, "person", [], 0.0, 3, True, 0, 7)
    started = time.monotonic()
    async with open_resources(settings) as resources:
        async with resources.pool.acquire() as conn, conn.transaction():
            await outbox.create_job(
                conn,
                user_id=user_id,
                video_id=video_id,
                job_type=DETECT.name,
                payload=DETECT.encode_payload(payload),
                progress_total=1,
            )
        for _ in range(3000):
            await outbox.relay(resources.pool, resources.sqs, resources.queue_urls)
            statuses = await resources.pool.fetch("SELECT type, status FROM jobs")
            done = [r for r in statuses if r["status"] in ("succeeded", "failed")]
            if len(done) == 2 or any(r["status"] == "failed" for r in done):
                print(f"  jobs: {[(r['type'], r['status']) for r in statuses]}")
                return time.monotonic() - started
            await asyncio.sleep(0.1)
    raise RuntimeError("the detection did not finish")


if __name__ == "__main__":
    main()
