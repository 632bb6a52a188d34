"""What the keyframe sweep reads to learn which keyframe states the mask chunks in use were seeded
from: the end of each chunk's track records by a ranged GET (``TrackStore.chunk_keyframes``,
this tree), against reading every chunk whole (``TrackStore.chunk``, the reference), in the same
run, taking turns. The chunks are stored as a propagation at ``--image-size`` stores them (16
frames of SAM2's low-resolution logits each) in moto's S3 over HTTP. Prints the wall time and the
bytes read per sweep of ``--chunks`` chunks, and their ratio.

    .venv/bin/python bench/keyframe_sweep.py --chunks 60 --image-size 1024 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aioboto3
import numpy as np
from bench_services import local_services  # bench/, beside this script

from roto.masks.storage import chunk_key
from roto_gpu.jobs.track_store import (
    TAIL_BYTES,
    TrackStore,
    encode_track_chunk,
    state_key,
    track_key,
)
from roto_gpu.tracking.requests import TrackRecord

BUCKET = "keyframe-sweep-bench"
CHUNK_FRAMES = 16


def chunk_bytes(image_size: int, start: int, video: uuid.UUID) -> bytes:
    side = image_size // 4  # SAM2's low-resolution masks
    rng = np.random.default_rng(start)
    records = {
        f: TrackRecord(rng.normal(size=(side, side)), rng.normal(size=256), 0.5, False)
        for f in range(start, start + CHUNK_FRAMES)
    }
    return encode_track_chunk(records, {0: state_key(video, 1, 0, uuid.uuid4())})


async def run(endpoint: str, args: argparse.Namespace) -> None:
    session = aioboto3.Session()
    async with session.client("s3", endpoint_url=endpoint, region_name="us-east-1") as s3:
        await s3.create_bucket(Bucket=BUCKET)
        video, keys, sizes = uuid.uuid4(), [], []
        for i in range(args.chunks):
            key = chunk_key(video, 1, f"{uuid.uuid4()}-1", 1 + i * CHUNK_FRAMES)
            data = chunk_bytes(args.image_size, 1 + i * CHUNK_FRAMES, video)
            await s3.put_object(Bucket=BUCKET, Key=track_key(key), Body=data)
            keys.append(key)
            sizes.append(len(data))

        async def whole(store: TrackStore, key: str) -> Any:
            chunk = await store.chunk(key)
            return None if chunk is None else chunk.keyframes

        sides: dict[str, Callable[[TrackStore, str], Awaitable[Any]]] = {
            "whole chunks (reference)": whole,
            "ranged read of the end": TrackStore.chunk_keyframes,
        }
        seconds: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, read in sides.items():
                store = TrackStore(s3, BUCKET)  # no cache carried over between sweeps
                started = time.perf_counter()
                found = await asyncio.gather(*(read(store, key) for key in keys))
                seconds[name].append(time.perf_counter() - started)
                assert all(found), "a chunk's keyframes map was not read"
    whole_bytes = sum(sizes)
    tail_bytes = sum(min(size, TAIL_BYTES) for size in sizes)
    print(
        f"{args.chunks} chunks of {CHUNK_FRAMES} frames at {args.image_size} px "
        f"({whole_bytes / args.chunks / 1024:.0f} KiB each), median of {args.rounds} sweeps"
    )
    print("| read | seconds per sweep | MiB read |\n|---|---|---|")
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    for name, read_bytes in zip(sides, (whole_bytes, tail_bytes), strict=True):
        print(f"| {name} | {medians[name]:.3f} | {read_bytes / 2**20:.1f} |")
    ratio = medians["ranged read of the end"] / medians["whole chunks (reference)"]
    print(f"ranged / whole: {ratio:.2f}x the time, {tail_bytes / whole_bytes:.3f}x the bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=60)
    parser.add_argument("--image-size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with local_services("keyframe-sweep") as services:
        asyncio.run(run(services.moto.endpoint, args))


if __name__ == "__main__":
    main()
