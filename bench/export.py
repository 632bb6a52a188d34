"""Export throughput and memory: frames per second of a 1080p PNG matte sequence and of ProRes
4444 (which also decodes the source), the peak memory of a long export next to a short one, and
the time to export the last frames of the video with the ingest's frame timestamps (seeking to
the keyframe before them) against without them (decoding from frame 0, the reference).

    .venv/bin/python bench/export.py --short 30 --long 300 --late 24

Starts PostgreSQL, Redis and moto's S3 (as the tests do), uploads a generated 1080p H.264 source
and stores one object's masks on every frame (propagation chunks of 32 frames), then runs each
export in a fresh process (the real ``export`` job handler, its archive streamed into S3) and
reads that process's peak RSS. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import AsyncExitStack
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from bench_services import bench_settings, local_services  # bench/, beside this script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from roto import aws  # noqa: E402
from roto.devstack.services import LOCAL_AWS_ENV  # noqa: E402
from roto.masks import rle, storage  # noqa: E402
from roto.masks.schemas import FrameMask  # noqa: E402
from roto.media.frame_pts import encode_pts  # noqa: E402
from roto.media.frames import decode_frames  # noqa: E402
from roto.media.malloc import pin_mmap_threshold  # noqa: E402
from roto.settings import ENV_PREFIX, Settings, load_settings  # noqa: E402
from roto.videos.storage import frame_pts_key, source_key  # noqa: E402

WIDTH, HEIGHT = 1920, 1080
RATE = Fraction(24000, 1001)
CHUNK = 32
#: Two seconds between keyframes, a common delivery setting.
KEYFRAME_EVERY = 48


def source_frame(index: int) -> np.ndarray:
    """A gradient with a disc moving across: cheap to make, not trivial to encode."""
    x = np.linspace(0, 200, WIDTH, dtype=np.uint16)[None, :]
    y = np.linspace(0, 55, HEIGHT, dtype=np.uint16)[:, None]
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    image[..., 0] = x + y
    image[..., 1] = (x + y) // 2
    image[..., 2] = 90
    image[disc(index)] = (240, 230, 40)
    return image


def disc(index: int) -> np.ndarray:
    cx, cy, r = 300 + 4 * index % (WIDTH - 600), HEIGHT // 2, 220
    yy, xx = np.ogrid[:HEIGHT, :WIDTH]
    inside: np.ndarray = (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    return inside


def add_grain(image: np.ndarray, amount: int, seed: int) -> np.ndarray:
    """Film grain of +-``amount`` levels: what a scanned or camera plate carries, and what
    makes H.264 spend bits (and its decoder time) on every block."""
    noise = np.random.default_rng(seed).integers(-amount, amount + 1, image.shape, np.int16)
    grained: np.ndarray = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return grained


def write_source(path: Path, frames: int, grain: int = 0) -> None:
    with av.open(str(path), mode="w") as container:
        stream: Any = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {
            "preset": "ultrafast",
            "crf": "20",
            "x264-params": f"keyint={KEYFRAME_EVERY}:min-keyint={KEYFRAME_EVERY}:scenecut=0",
        }
        for index in range(frames):
            image = source_frame(index)
            if grain:
                image = add_grain(image, grain, index)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


async def prepare(settings: Settings, frames: int, folder: Path, grain: int = 0) -> str:
    """A ready 1080p video with its source in S3 and a mask on every frame; returns its id."""
    import asyncpg

    video_id, user_id = uuid.uuid4(), uuid.uuid4()
    path = folder / "source.mp4"
    write_source(path, frames, grain)
    async with AsyncExitStack() as stack:
        s3, sqs = await aws.open_clients(settings, stack)
        await aws.ensure_bucket(s3, settings)
        await aws.ensure_queues(sqs, settings)
        await s3.put_object(
            Bucket=settings.s3_bucket, Key=source_key(video_id), Body=path.read_bytes()
        )
        conn = await asyncpg.connect(settings.database_url)
        await conn.execute(
            "INSERT INTO users (id, email, password_hash) VALUES ($1, 'bench@example.com', 'x')",
            user_id,
        )
        await conn.execute(
            "INSERT INTO videos (id, user_id, filename, content_type, size_bytes, status, "
            "source_key, width, height, fps, frame_count, duration_s, codec) VALUES "
            "($1, $2, 'bench.mp4', 'video/mp4', $3, 'ready', $4, $5, $6, $7, $8, $9, 'h264')",
            video_id, user_id, path.stat().st_size, source_key(video_id), WIDTH, HEIGHT,
            float(RATE), frames, frames / float(RATE),
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO objects (video_id, object_id, name, color) "
            "VALUES ($1, 1, 'disc', '#ff0000')",
            video_id,
        )
        for start in range(0, frames, CHUNK):
            masks = [
                FrameMask(1, f, rle.encode(disc(f)), 0.9, "propagation")
                for f in range(start, min(frames, start + CHUNK))
            ]
            job_id = uuid.uuid4()
            key = storage.chunk_key(video_id, 1, job_id, start)
            await s3.put_object(
                Bucket=settings.s3_bucket, Key=key, Body=storage.encode_chunk(masks)
            )
            await conn.executemany(
                "INSERT INTO masks (video_id, object_id, frame_index, source, score, area, "
                "storage_key, job_id) VALUES ($1, 1, $2, 'propagation', 0.9, $3, $4, $5)",
                [(video_id, m.frame_index, rle.area(m.rle), key, job_id) for m in masks],
            )
        await conn.close()
    return str(video_id)


async def set_frame_pts(settings: Settings, video_id: str, source: Path | None) -> None:
    """Store the table ingest would store for ``source``; None removes it."""
    async with AsyncExitStack() as stack:
        s3, _ = await aws.open_clients(settings, stack)
        key = frame_pts_key(video_id)
        if source is None:
            await s3.delete_object(Bucket=settings.s3_bucket, Key=key)
            return
        stamps = [int(pts) for _, pts in decode_frames(source) if pts is not None]
        await s3.put_object(Bucket=settings.s3_bucket, Key=key, Body=encode_pts(stamps))


def high_water_mib() -> float:
    """This process's resident-set high-water mark (VmHWM). Not ``ru_maxrss``: Linux carries that
    over from the forked parent across exec, so a child would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


async def run_child(video_id: str, export_format: str, first: int, last: int) -> dict[str, Any]:
    """One export through the real job handler, in this (fresh) process."""
    from roto.exports.job import run_export
    from roto.jobs import outbox
    from roto.jobs.contracts import JobMessage
    from roto.resources import open_resources
    from roto.worker.contract import JobContext

    settings = load_settings()
    pin_mmap_threshold()  # as the media worker's role does when it starts
    async with open_resources(settings) as resources:
        owner = await resources.pool.fetchval(
            "SELECT user_id FROM videos WHERE id = $1", uuid.UUID(video_id)
        )
        payload = {
            "video_id": video_id, "format": export_format, "object_ids": [1],
            "frame_start": first, "frame_end": last, "start_number": 0, "bit_depth": 8,
        }  # fmt: skip
        async with resources.pool.acquire() as conn, conn.transaction():
            job = await outbox.create_job(
                conn, user_id=owner, video_id=uuid.UUID(video_id), job_type="export",
                payload=payload, progress_total=last - first + 1,
            )  # fmt: skip
        before = high_water_mib()
        started = time.monotonic()
        ctx = JobContext(resources, job, JobMessage(str(job.id), "export"), 1)
        result = await run_export(ctx)
        elapsed = time.monotonic() - started
    peak = high_water_mib()
    return {
        "seconds": elapsed,
        "frames": last - first + 1,
        "size_bytes": result.size_bytes,
        "rss_before_mib": before,
        "rss_peak_mib": peak,
    }


def spawn(
    settings: Settings, video_id: str, export_format: str, frames: int, first: int = 0
) -> dict[str, Any]:
    """Export ``frames`` frames from ``first`` in a fresh process; its figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(LOCAL_AWS_ENV)
    for name in ("database_url", "redis_url", "aws_endpoint_url", "s3_bucket", "jwt_secret"):
        env[ENV_PREFIX + name.upper()] = str(getattr(settings, name))
    env[ENV_PREFIX + "LOG_LEVEL"] = "WARNING"
    last = first + frames - 1
    command = [sys.executable, __file__, "--child", video_id, export_format, str(first), str(last)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"the export process failed:\n{out.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=30, help="frames of the short export")
    parser.add_argument("--long", type=int, default=300, help="frames of the long export")
    parser.add_argument("--formats", default="png_sequence,prores_4444")
    parser.add_argument("--late", type=int, default=24, help="frames of the late-range export")
    parser.add_argument(
        "--grain", type=int, default=0, help="film grain in the source, +-levels (e.g. 6)"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        video_id, export_format, first, last = args.child
        print(json.dumps(asyncio.run(run_child(video_id, export_format, int(first), int(last)))))
        return

    with local_services("export", postgres=True, redis=True) as services:
        root = services.root
        settings = bench_settings(services)
        started = time.monotonic()
        video_id = asyncio.run(prepare(settings, args.long, root, args.grain))
        print(f"prepared a {WIDTH}x{HEIGHT} {args.long}-frame source (grain {args.grain}) and "
              f"masks in {time.monotonic() - started:.1f}s (cpus: {os.cpu_count()})")  # fmt: skip
        print(f"{'format':<14}{'frames':>7}{'seconds':>9}{'fps':>8}{'archive MiB':>13}"
              f"{'RSS before':>12}{'RSS peak':>10}")  # fmt: skip
        peaks: dict[str, list[float]] = {}
        for export_format in args.formats.split(","):
            for frames in (args.short, args.long):
                r = spawn(settings, video_id, export_format, frames)
                peaks.setdefault(export_format, []).append(r["rss_peak_mib"])
                print(f"{export_format:<14}{frames:>7}{r['seconds']:>9.2f}"
                      f"{frames / r['seconds']:>8.1f}{r['size_bytes'] / 1024**2:>13.1f}"
                      f"{r['rss_before_mib']:>11.0f}M{r['rss_peak_mib']:>9.0f}M")  # fmt: skip
        for export_format, (short, long) in peaks.items():
            print(f"{export_format}: peak RSS {long:.0f} MiB for {args.long} frames vs "
                  f"{short:.0f} MiB for {args.short} frames: ratio {long / short:.2f} "
                  f"for {args.long / args.short:.0f}x the frames")  # fmt: skip
        if args.late:
            late_range(settings, video_id, root / "source.mp4", args.long, args.late)


def late_range(settings: Settings, video_id: str, source: Path, total: int, frames: int) -> None:
    """The last ``frames`` frames as RGBA PNGs (which decode the source): decoding from frame 0,
    as without timestamps, then seeking with them."""
    first = total - frames
    print(f"late range: frames {first}..{total - 1} of {total}, keyframe every {KEYFRAME_EVERY}")
    seconds = {}
    for label, table in (("from frame 0 (reference)", None), ("seek with timestamps", source)):
        asyncio.run(set_frame_pts(settings, video_id, table))
        r = spawn(settings, video_id, "rgba_png_sequence", frames, first)
        seconds[label] = r["seconds"]
        print(f"  {label:<26}{r['seconds']:>8.2f} s{frames / r['seconds']:>8.1f} fps")
    reference, ours = seconds.values()
    print(f"late range speed-up: {reference / ours:.1f}x")


if __name__ == "__main__":
    main()
