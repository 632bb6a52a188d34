"""CPU that the dev stack's bucket copy (``roto.devstack.s3mirror``) spends per click, with the
keyframe states left out (this tree) and, as the reference in the same run, kept as before.

Each "click" writes what a segment job writes to S3: the keyframe's mask JSON (one key per
frame, overwritten) and a new keyframe state (an npz of the logit map). A mirror pass runs every
``--every`` clicks, as the stack's pass every 5 s does during a loop of clicks. Prints, per
variant and logit size, the CPU per click of this process (the mirror's S3 client, its file
writes and manifest) and of the moto server (from /proc). Needs no GPU and no API stack.

    .venv/bin/python bench/s3_mirror.py --clicks 60
"""

from __future__ import annotations

import argparse
import io
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench_services import local_services  # bench/, beside this script

from roto.devstack import s3mirror
from roto.devstack.services import MotoServer
from roto.masks.storage import keyframe_mask_key
from roto_gpu.jobs.track_store import state_key

MASK = b'{"object_id":1,"frame_index":0,"rle":{"size":[360,640],"counts":"' + b"a" * 300 + b'"}}'


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def state_bytes(side: int) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    np.savez(buf, logits=rng.random((side, side), np.float32), pointer=rng.random(256, np.float32))
    return buf.getvalue()


def run(
    s3: Any,
    moto: MotoServer,
    root: Path,
    side: int,
    leave_out: Callable[[str], bool],
    args: argparse.Namespace,
) -> tuple[float, float]:
    """CPU ms per click: (this process's mirror passes, moto)."""
    bucket = "mirror-" + uuid.uuid4().hex[:10]
    s3.create_bucket(Bucket=bucket)
    mirror = s3mirror.S3Mirror(s3, bucket, root / bucket, leave_out)
    video, state = uuid.uuid4(), state_bytes(side)
    own = served = 0.0
    for click in range(args.clicks):
        frame = click % 8
        s3.put_object(
            Bucket=bucket, Key=keyframe_mask_key(video, 1, frame), Body=MASK + b"%d" % click
        )
        s3.put_object(Bucket=bucket, Key=state_key(video, 1, frame, uuid.uuid4()), Body=state)
        if click % args.every == args.every - 1:
            cpu, moto_cpu = time.process_time(), process_cpu_s(moto.proc.pid)
            mirror.sync()
            own += time.process_time() - cpu
            served += process_cpu_s(moto.proc.pid) - moto_cpu
    return own / args.clicks * 1000, served / args.clicks * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=60)
    parser.add_argument("--every", type=int, default=5, help="clicks between mirror passes")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with local_services("mirror") as services:
        moto, root = services.moto, services.root
        s3 = s3mirror.open_s3_client(moto.endpoint, "us-east-1")
        print("| logits | states | mirror CPU per click | moto CPU per click |\n|---|---|---|---|")
        for side in (64, 256):  # SAM2's low-res logits at image_size 256 and 1024
            for _ in range(args.repeats):
                for label, leave_out in (
                    ("kept (reference)", lambda key: False),
                    ("left out", s3mirror.is_derived),
                ):
                    own, served = run(s3, moto, root, side, leave_out, args)
                    print(f"| {side}x{side} | {label} | {own:.2f} ms | {served:.2f} ms |")


if __name__ == "__main__":
    main()
